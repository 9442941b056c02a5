{#-
  Every identifier of every source record, in one long table: one row per (record, identifier
  type, value). Values are normalized by the staging models (email lower-cased, phone E.164);
  ids are trimmed, device ids lower-cased. `block_reason` marks junk (blanks, placeholders such
  as `test@test.com` or `0000000000`, the configured block patterns): junk stays visible here
  but never links anyone.
-#}
{%- set records = identity_record_sources() -%}

with observed as (
{%- for record in records %}
{%- for identifier_type, expression in record.ids.items() %}
    select
        '{{ record.source }}' as source_name,
        '{{ record.table }}' as table_name,
        cast({{ record.key }} as {{ dbt.type_string() }}) as record_key,
        '{{ identifier_type }}' as identifier_type,
        trim(cast({{ expression }} as {{ dbt.type_string() }})) as identifier_value,
        cast({{ record.at }} as {{ cdp_type('timestamp') }}) as observed_at
    from {{ staged(record.model) }}
    where {{ expression }} is not null{% if record.get('where') %} and {{ record.where }}{% endif %}
    union all
{%- endfor %}
{%- endfor %}
    {#- list members carry the external ids of named systems (`eventbrite:A-1001`) #}
    select
        'lists' as source_name,
        'list_members' as table_name,
        cast(external_ids.member_key as {{ dbt.type_string() }}) as record_key,
        'external_id' as identifier_type,
        external_ids.system || ':' || trim(external_ids.external_id) as identifier_value,
        cast(null as {{ cdp_type('timestamp') }}) as observed_at
    from {{ staged('stg_lists__list_member_external_ids') }} as external_ids
    where external_ids.external_id is not null
),

keyed as (
    select
        source_name || '/' || table_name || '/' || record_key as record_ref,
        source_name,
        table_name,
        record_key,
        identifier_type,
        identifier_value,
        {{ identifier_key('identifier_type', 'identifier_value') }} as identifier_key,
        {{ identity_type_rank('identifier_type') }} as identifier_rank,
        observed_at,
        {{ identity_block_reason('identifier_type', 'identifier_value') }} as block_reason
    from observed
    where record_key is not null
),

final as (
    select
        record_ref,
        source_name,
        table_name,
        record_key,
        identifier_type,
        identifier_value,
        identifier_key,
        identifier_rank,
        min(observed_at) as observed_at,
        block_reason,
        block_reason is not null as is_blocked
    from keyed
    group by record_ref, source_name, table_name, record_key, identifier_type, identifier_value,
             identifier_key, identifier_rank, block_reason
)

select * from final
