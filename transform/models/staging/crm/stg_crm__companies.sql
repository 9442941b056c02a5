{#- CRM companies. -#}
{%- set raw = source('crm', 'companies') -%}
{%- set columns = relation_columns(raw) -%}
{%- macro prop(name, data_type='text') -%}{{ column_or_null(columns, 'properties__' ~ name, data_type) }}{%- endmacro -%}

with source as (

    select * from {{ raw }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as company_id,
        nullif(trim({{ prop('name') }}), '') as company_name,
        lower(nullif(trim({{ prop('domain') }}), '')) as domain,
        nullif(trim({{ prop('industry') }}), '') as industry,
        nullif(trim({{ prop('city') }}), '') as city,
        {{ normalize_country(prop('country')) }} as country_code,
        {{ timestamp_from_text(prop('createdate')) }} as created_at,
        {{ safe_cast('updated_at', 'timestamp') }} as updated_at,
        _dlt_load_id as load_id

    from source

),

final as (

    select * from renamed

)

select * from final
