{#- CRM companies. -#}
{%- set raw = source('crm', 'companies') -%}
{%- set columns = relation_columns(raw) -%}

with source as (

    select * from {{ raw }}
    where {{ not_quarantined('crm', 'companies') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as company_id,
        nullif(trim({{ column_or_null(columns, 'properties__name') }}), '') as company_name,
        lower(nullif(trim({{ column_or_null(columns, 'properties__domain') }}), '')) as domain,
        nullif(trim({{ column_or_null(columns, 'properties__industry') }}), '') as industry,
        nullif(trim({{ column_or_null(columns, 'properties__city') }}), '') as city,
        {{ normalize_country(column_or_null(columns, 'properties__country')) }} as country_code,
        {{ timestamp_from_text(column_or_null(columns, 'properties__createdate')) }} as created_at,
        {{ safe_cast('updated_at', 'timestamp') }} as updated_at,
        _dlt_load_id as load_id

    from source

),

final as (

    select * from renamed

)

select * from final
