{#- Contacts deleted (archived) in the CRM, with when; until the first deletion the raw table does not exist and this is empty. -#}
{%- set raw = source('crm', 'archived_contacts') -%}
{%- set columns = relation_columns(raw) -%}

with source as (

    select * from {{ optional_source('crm', 'archived_contacts', {'id': 'text', '_dlt_id': 'text', '_dlt_load_id': 'text'}) }} as raw_archived
    where {{ not_quarantined('crm', 'archived_contacts') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as contact_id,
        {{ normalize_email(column_or_null(columns, 'properties__email')) }} as email,
        nullif(trim({{ column_or_null(columns, 'properties__firstname') }}), '') as first_name,
        nullif(trim({{ column_or_null(columns, 'properties__lastname') }}), '') as last_name,
        {{ safe_cast(column_or_null(columns, 'archived_at'), 'timestamp') }} as archived_at,
        {{ safe_cast(column_or_null(columns, 'updated_at'), 'timestamp') }} as updated_at,
        _dlt_load_id as load_id

    from source

),

final as (

    select * from renamed

)

select * from final
