{#- CRM owners: the users records are assigned to (`owner_id` on contacts and deals). -#}
{%- set raw = source('crm', 'owners') -%}
{%- set columns = relation_columns(raw) -%}

with source as (

    select * from {{ optional_source('crm', 'owners', {'id': 'text', '_dlt_id': 'text', '_dlt_load_id': 'text'}) }} as raw_owners
    where {{ not_quarantined('crm', 'owners') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as owner_id,
        {{ normalize_email(column_or_null(columns, 'email')) }} as email,
        nullif(trim({{ column_or_null(columns, 'first_name') }}), '') as first_name,
        nullif(trim({{ column_or_null(columns, 'last_name') }}), '') as last_name,
        cast({{ column_or_null(columns, 'user_id') }} as {{ dbt.type_string() }}) as user_id,
        {{ safe_cast(column_or_null(columns, 'created_at'), 'timestamp') }} as created_at,
        {{ safe_cast(column_or_null(columns, 'updated_at'), 'timestamp') }} as updated_at,
        coalesce({{ column_or_null(columns, 'archived', 'boolean') }}, false) as is_archived,
        _dlt_load_id as load_id

    from source

),

final as (

    select * from renamed

)

select * from final
