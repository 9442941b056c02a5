{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='append_new_columns',
) }}
{#-
  Append-only history of merges and splits: old id, new id, why, the evidence, when.
  - merge: the old id was retired into the new one; evidence is a link joining identifiers
    the old customer held to the rest of the survivor's cluster.
  - split: identifiers the old customer held now belong to another customer (new or
    reactivated); evidence is a link refused between the two (do-not-link, limits), else the
    links that held them together are no longer observed.
-#}
{%- set now = run_timestamp() -%}
with registry as (
    select * from {{ ref('identity_customers') }}
    where changed_in_run = '{{ invocation_id }}'
),

{#- last run's node -> customer map: identifiers, and the `record:` nodes of records matched probabilistically -#}
previous_map as (
    select identifier_key, customer_id
    from {{ previous_state('customer_identifiers', {'identifier_key': 'text', 'customer_id': 'text'}) }} as identifiers
    union all
    select 'record:' || record_ref, customer_id
    from {{ previous_state('customer_records', {'record_ref': 'text', 'customer_id': 'text', 'resolution': 'text'}) }} as records
    where resolution = 'probabilistic'
),

current_map as (
    select resolved.identifier_key, customers.customer_id
    from {{ ref('int_identity__resolved_nodes') }} as resolved
    inner join {{ ref('identity_customers') }} as customers
        on resolved.cluster_id = customers.cluster_id and customers.status = 'active'
),

links as (
    select * from {{ ref('identity_links') }}
),

link_sides as (
    select links.*, side_a.customer_id as previous_customer_a, side_b.customer_id as previous_customer_b
    from links
    left join previous_map as side_a on links.identifier_key_a = side_a.identifier_key
    left join previous_map as side_b on links.identifier_key_b = side_b.identifier_key
    where links.is_used
),

merges as (
    select
        registry.customer_id as old_customer_id,
        registry.merged_into_customer_id as new_customer_id,
        'merge' as event_type,
        count(link_sides.identifier_key_a) as evidence_links,
        min(link_sides.identifier_key_a || ' ~ ' || link_sides.identifier_key_b || ' (' || link_sides.link_type
            || coalesce(', ' || link_sides.example_record_ref, '') || ')') as evidence
    from registry
    left join link_sides
        on (link_sides.previous_customer_a = registry.customer_id
            and coalesce(link_sides.previous_customer_b, '') <> registry.customer_id)
        or (link_sides.previous_customer_b = registry.customer_id
            and coalesce(link_sides.previous_customer_a, '') <> registry.customer_id)
    where registry.last_change = 'merged'
    group by registry.customer_id, registry.merged_into_customer_id
),

moved as (
    select previous_map.customer_id as old_customer_id, current_map.customer_id as new_customer_id, previous_map.identifier_key
    from previous_map
    inner join current_map on previous_map.identifier_key = current_map.identifier_key
    inner join {{ ref('identity_customers') }} as new_customer on current_map.customer_id = new_customer.customer_id
    where previous_map.customer_id <> current_map.customer_id
      and new_customer.changed_in_run = '{{ invocation_id }}'
      and new_customer.last_change in ('issued', 'reactivated')
),

{#- links refused in this run, with the customers their two ends belong to now -#}
refused as (
    select links.*, now_a.customer_id as customer_a, now_b.customer_id as customer_b
    from links
    inner join current_map as now_a on links.identifier_key_a = now_a.identifier_key
    inner join current_map as now_b on links.identifier_key_b = now_b.identifier_key
    where not links.is_used
),

split_pairs as (
    select old_customer_id, new_customer_id, min(identifier_key) as example_key
    from moved
    group by old_customer_id, new_customer_id
),

splits as (
    select
        split_pairs.old_customer_id,
        split_pairs.new_customer_id,
        'split' as event_type,
        count(refused.identifier_key_a) as evidence_links,
        coalesce(
            min(refused.drop_rule || ': ' || refused.identifier_key_a || ' ~ ' || refused.identifier_key_b),
            'links between ' || min(split_pairs.example_key) || ' and the rest of ' || split_pairs.old_customer_id
                || ' are no longer observed'
        ) as evidence
    from split_pairs
    left join refused
        on (refused.customer_a = split_pairs.old_customer_id and refused.customer_b = split_pairs.new_customer_id)
        or (refused.customer_a = split_pairs.new_customer_id and refused.customer_b = split_pairs.old_customer_id)
    group by split_pairs.old_customer_id, split_pairs.new_customer_id
),

events as (
    select * from merges
    union all
    select * from splits
),

final as (
    select
        md5(old_customer_id || '>' || new_customer_id || '@{{ invocation_id }}') as event_id,
        event_type,
        old_customer_id,
        new_customer_id,
        case event_type
            when 'merge' then 'new evidence links the two customers'
            else 'the evidence linking them was removed or refused'
        end as reason,
        evidence,
        evidence_links,
        {{ now }} as occurred_at,
        '{{ invocation_id }}' as run_id
    from events
)

select * from final
