{#-
  Every source record of an active customer with when it happened and the channel it came
  through: web and app (events: an app event carries a device type or is a screen view),
  crm, pos (loyalty enrolment and store orders; web orders count as web), email, support
  and lists. A record spans first_at..last_at (a CRM contact from creation to its last
  change, a ticket from opening to its last update); list rows carry no time.
-#}
{%- set text = dbt.type_string() -%}
{%- set ts = cdp_type('timestamp') -%}
with activity as (
    select
        'events' as source_name, 'events' as table_name, event_key as record_key,
        case when device_type is not null or event_type = 'screen' then 'app' else 'web' end as channel,
        occurred_at as first_at, occurred_at as last_at
    from {{ staged('stg_events__events') }}
    union all
    select
        'crm', 'contacts', contact_id, 'crm',
        coalesce(created_at, updated_at), coalesce(updated_at, created_at)
    from {{ staged('stg_crm__contacts') }}
    -- a contact the CRM sync created, never edited in the CRM since, is not the person's activity
    where not (coalesce(is_platform_created, false) and updated_at is null)
    union all
    select
        'commerce', 'customers', loyalty_id, 'pos',
        coalesce(enrolled_at, updated_at), coalesce(enrolled_at, updated_at)
    from {{ staged('stg_commerce__customers') }}
    union all
    select
        'commerce', 'orders', order_id, case when channel = 'web' then 'web' else 'pos' end,
        ordered_at, ordered_at
    from {{ staged('stg_commerce__orders') }}
    union all
    select 'email', 'email_events', email_event_key, 'email', occurred_at, occurred_at
    from {{ staged('stg_email__email_events') }}
    union all
    select
        'support', 'tickets', ticket_id, 'support',
        coalesce(created_at, updated_at), coalesce(updated_at, created_at)
    from {{ staged('stg_support__tickets') }}
    union all
    select 'lists', 'list_members', member_key, 'lists', cast(null as {{ ts }}), cast(null as {{ ts }})
    from {{ staged('stg_lists__list_members') }}
),

records as (
    select source_name, table_name, record_key, record_ref, customer_id
    from {{ ref('customer_records') }}
    where customer_id is not null
),

final as (
    select
        records.record_ref,
        records.customer_id,
        activity.source_name,
        activity.table_name,
        activity.channel,
        cast(activity.first_at as {{ ts }}) as first_at,
        cast(activity.last_at as {{ ts }}) as last_at
    from activity
    inner join records
        on activity.source_name = records.source_name
       and activity.table_name = records.table_name
       and cast(activity.record_key as {{ text }}) = records.record_key
)

select * from final
