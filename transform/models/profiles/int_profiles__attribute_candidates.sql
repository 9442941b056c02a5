{#-
  Every personal attribute value a source record of an active customer states: the records
  identity resolution reads (int_identity__record_attributes) plus the address each
  email-platform event was sent to. One row per record; the input of survivorship.
-#}
{%- set text = dbt.type_string() -%}
{%- set attributes = profile_attributes() -%}
with stated as (
    select
        source_name, table_name, record_key,
        {% for attribute in attributes %}{{ attribute }}, {% endfor %}
        observed_at
    from {{ ref('int_identity__record_attributes') }}
    union all
    select
        'email', 'email_events', email_event_key,
        {% for attribute in attributes -%}
        {%- if attribute == 'email' %}email{% elif attribute == 'date_of_birth' %}cast(null as date){% else %}cast(null as {{ text }}){% endif %}, {% endfor %}
        occurred_at
    from {{ staged('stg_email__email_events') }}
    where email is not null
),

records as (
    select source_name, table_name, record_key, record_ref, customer_id
    from {{ ref('customer_records') }}
    where customer_id is not null
),

final as (
    select
        records.customer_id,
        records.record_ref,
        stated.source_name || '/' || stated.table_name as source,
        cast(stated.observed_at as {{ cdp_type('timestamp') }}) as observed_at,
        {% for attribute in attributes -%}
        case when stated.{{ attribute }} is null then 0 else 1 end{% if not loop.last %} + {% endif %}
        {%- endfor %} as completeness,
        {%- for attribute in attributes %}
        stated.{{ attribute }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from stated
    inner join records
        on stated.source_name = records.source_name
       and stated.table_name = records.table_name
       and stated.record_key = records.record_key
)

select * from final
