{#-
  The personal attributes each source record states about its person (names, contact
  details, address, date of birth), with the record's hub identifier. Feeds probabilistic
  matching and the golden-record survivorship of customer_profiles.
-#}
{%- set text = dbt.type_string() -%}
with stated as (
    select
        'events' as source_name, 'events' as table_name, event_key as record_key,
        first_name, last_name, email, phone,
        cast(null as date) as date_of_birth,
        cast(null as {{ text }}) as street_address, cast(null as {{ text }}) as city,
        cast(null as {{ text }}) as state, cast(null as {{ text }}) as postcode,
        cast(null as {{ text }}) as country_code,
        occurred_at as observed_at
    from {{ staged('stg_events__events') }}
    where event_type = 'identify' and coalesce(first_name, last_name, email, phone) is not null
    union all
    select
        'crm', 'contacts', contact_id,
        first_name, last_name, email, phone, cast(null as date),
        cast(null as {{ text }}), city, state, postcode, country_code,
        coalesce(updated_at, created_at)
    from {{ staged('stg_crm__contacts') }}
    where is_archived is not true
      -- a contact the CRM sync created states only what the platform wrote, until edited in the CRM
      and not (coalesce(is_platform_created, false) and updated_at is null)
    union all
    select
        'commerce', 'customers', loyalty_id,
        first_name, last_name, email, phone, cast(null as date),
        cast(null as {{ text }}), cast(null as {{ text }}), cast(null as {{ text }}), postcode, country_code,
        coalesce(updated_at, enrolled_at)
    from {{ staged('stg_commerce__customers') }}
    union all
    select
        'commerce', 'orders', order_id,
        first_name, last_name, email, cast(null as {{ text }}), cast(null as date),
        cast(null as {{ text }}), cast(null as {{ text }}), cast(null as {{ text }}), postcode, cast(null as {{ text }}),
        ordered_at
    from {{ staged('stg_commerce__orders') }}
    where coalesce(first_name, last_name, email) is not null
    union all
    select
        'support', 'tickets', ticket_id,
        nullif(split_part(requester_name, ' ', 1), ''),
        nullif(trim(substr(requester_name, length(split_part(requester_name, ' ', 1)) + 2)), ''),
        requester_email, requester_phone, cast(null as date),
        cast(null as {{ text }}), cast(null as {{ text }}), cast(null as {{ text }}), cast(null as {{ text }}),
        cast(null as {{ text }}),
        updated_at
    from {{ staged('stg_support__tickets') }}
    union all
    select
        'lists', 'list_members', member_key,
        first_name, last_name, email, phone, date_of_birth,
        street_address, city, state, postcode, country_code,
        cast(null as {{ cdp_type('timestamp') }})
    from {{ staged('stg_lists__list_members') }}
),

hubs as (
    select distinct record_ref, hub_key
    from {{ ref('int_identity__record_identifiers') }}
),

final as (
    select
        stated.source_name || '/' || stated.table_name || '/' || stated.record_key as record_ref,
        stated.source_name,
        stated.table_name,
        stated.record_key,
        hubs.hub_key,
        stated.first_name,
        stated.last_name,
        stated.email,
        stated.phone,
        stated.date_of_birth,
        stated.street_address,
        stated.city,
        stated.state,
        stated.postcode,
        stated.country_code,
        cast(stated.observed_at as {{ cdp_type('timestamp') }}) as observed_at
    from stated
    left join hubs
        on stated.source_name || '/' || stated.table_name || '/' || stated.record_key = hubs.record_ref
    where hubs.hub_key is not null
       or (stated.first_name is not null and stated.last_name is not null
           and coalesce(stated.postcode, stated.phone, stated.street_address, stated.city) is not null)
       or stated.date_of_birth is not null
)

select * from final
