{#- Uploaded customer-list members with identifiers normalized. A list maps only some fields. -#}
{%- set raw = source('lists', 'list_members') -%}
{%- set columns = relation_columns(raw) -%}
{%- macro field(name) -%}{{ column_or_null(columns, name) }}{%- endmacro -%}

with source as (

    select * from {{ raw }}

),

renamed as (

    select
        member_key,
        list_name,
        source_row,
        {{ normalize_email(field('email')) }} as email,
        {{ normalize_phone(field('phone'), field('country')) }} as phone,
        nullif(trim({{ field('first_name') }}), '') as first_name,
        nullif(trim({{ field('last_name') }}), '') as last_name,
        {{ safe_cast(field('date_of_birth'), 'date') }} as date_of_birth,
        nullif(trim({{ field('street_address') }}), '') as street_address,
        nullif(trim({{ field('city') }}), '') as city,
        upper(nullif(trim({{ field('postcode') }}), '')) as postcode,
        nullif(trim({{ field('state') }}), '') as state,
        {{ normalize_country(field('country')) }} as country_code,
        cast(traits as {{ dbt.type_string() }}) as traits_json,
        cast(consent as {{ dbt.type_string() }}) as consent_json,
        _source_file as source_file,
        _dlt_load_id as load_id,
        _dlt_id as raw_row_id

    from source

),

final as (

    select * from renamed

)

select * from final
