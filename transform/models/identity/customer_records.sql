{#
  Every source record and the customer it belongs to: through its hub identifier, or through
  a probabilistic match for a record with no identifier. `customer_id` is null for records
  nobody can be traced to (a cash sale, an event carrying only junk ids); `resolution` says why.
  Built after identity_merge_history, which reads last run's version of this table.
#}
-- depends_on: {{ ref('identity_merge_history') }}
{% set text = dbt.type_string() %}
with all_records as (
{%- for record in identity_record_sources() %}
    select
        '{{ record.source }}' as source_name,
        '{{ record.table }}' as table_name,
        cast({{ record.key }} as {{ text }}) as record_key
    from {{ staged(record.model) }}
    {%- if record.get('where') %}
    where {{ record.where }}
    {%- endif %}
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
),

hubs as (
    select distinct record_ref, hub_key from {{ ref('int_identity__record_identifiers') }}
),

resolved as (
    select identifier_key, cluster_id from {{ ref('int_identity__resolved_nodes') }}
),

customers as (
    select customer_id, cluster_id from {{ ref('identity_customers') }}
    where status = 'active'
),

placed as (
    select
        all_records.source_name || '/' || all_records.table_name || '/' || all_records.record_key as record_ref,
        all_records.source_name,
        all_records.table_name,
        all_records.record_key,
        hubs.hub_key,
        customers.customer_id,
        case
            when hubs.hub_key is not null then 'identifier'
            when customers.customer_id is not null then 'probabilistic'
            else 'unresolved'
        end as resolution
    from all_records
    left join hubs
        on all_records.source_name || '/' || all_records.table_name || '/' || all_records.record_key = hubs.record_ref
    left join resolved
        on coalesce(hubs.hub_key, 'record:' || all_records.source_name || '/' || all_records.table_name || '/' || all_records.record_key)
           = resolved.identifier_key
    left join customers on resolved.cluster_id = customers.cluster_id
),

final as (
    select * from placed
)

select * from final
