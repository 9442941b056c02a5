{#-
  CRM contacts identity resolution finds to be one person while the CRM holds them apart:
  merge suggestions for the CRM's own merge tool, never merged by the platform.

  A person has at most one CRM contact id (vars.identity, `crm_contact_id` max_per_customer 1),
  so when two contacts share an email or phone, or match probabilistically, merge protection
  keeps them apart and records the link it dropped (`limit:crm_contact_id`). Each such link
  between a contact and a customer holding another contact is a suggestion: merge the
  contact into the other customer's contact (the older one, by the CRM's creation date),
  with the evidence (the link's kind and the identifier type it rests on; values stay in
  identity_dropped_links).
-#}
with dropped as (
    select identifier_key_a, identifier_key_b, link_type, match_probability
    from {{ ref('identity_dropped_links') }}
    where drop_rule = 'limit:crm_contact_id'
),

node_customer as (
    select resolved.identifier_key, customers.customer_id
    from {{ ref('int_identity__resolved_nodes') }} as resolved
    inner join {{ ref('identity_customers') }} as customers
        on customers.cluster_id = resolved.cluster_id and customers.status = 'active'
),

crm_contacts as (
    select records.customer_id, contacts.contact_id, contacts.created_at
    from {{ ref('customer_records') }} as records
    inner join {{ staged('stg_crm__contacts') }} as contacts
        on records.source_name = 'crm' and records.table_name = 'contacts'
       and records.record_key = contacts.contact_id
    where records.customer_id is not null and contacts.is_archived is not true
),

primary_contact as (
    select customer_id, contact_id, created_at
    from (
        select
            *,
            row_number() over (partition by customer_id order by created_at, length(contact_id), contact_id) as n
        from crm_contacts
    ) as ranked
    where n = 1
),

pairs as (
    select
        side_a.customer_id as customer_a,
        side_b.customer_id as customer_b,
        dropped.link_type,
        dropped.match_probability,
        {#- the identifier type the link rests on: the side that is not a contact's own hub #}
        case
            when dropped.identifier_key_a like 'crm_contact_id:%' then {{ dbt.split_part('dropped.identifier_key_b', "':'", 1) }}
            else {{ dbt.split_part('dropped.identifier_key_a', "':'", 1) }}
        end as evidence
    from dropped
    inner join node_customer as side_a on side_a.identifier_key = dropped.identifier_key_a
    inner join node_customer as side_b on side_b.identifier_key = dropped.identifier_key_b
    where side_a.customer_id <> side_b.customer_id
),

suggested as (
    select
        contact_a.contact_id as contact_a,
        contact_b.contact_id as contact_b,
        pairs.customer_a,
        pairs.customer_b,
        case
            when contact_a.created_at < contact_b.created_at
              or (contact_a.created_at = contact_b.created_at and contact_a.contact_id < contact_b.contact_id)
            then contact_a.contact_id else contact_b.contact_id
        end as keep_contact_id,
        pairs.link_type,
        pairs.evidence,
        pairs.match_probability
    from pairs
    inner join primary_contact as contact_a on contact_a.customer_id = pairs.customer_a
    inner join primary_contact as contact_b on contact_b.customer_id = pairs.customer_b
),

final as (
    select
        case when keep_contact_id = contact_a then contact_b else contact_a end as merge_contact_id,
        keep_contact_id,
        case when keep_contact_id = contact_a then customer_b else customer_a end as merge_customer_id,
        case when keep_contact_id = contact_a then customer_a else customer_b end as keep_customer_id,
        {#- the strongest evidence: a shared identifier (deterministic) before a probabilistic match #}
        min(link_type || ':' || evidence) as evidence,
        count(*) as links,
        max(match_probability) as match_probability
    from suggested
    group by 1, 2, 3, 4
)

select * from final
