{#- Uploaded customer-list members with identifiers normalized. A list maps only some fields. -#}
{%- set raw = source('lists', 'list_members') -%}
{%- set columns = relation_columns(raw) -%}

with source as (

    select * from {{ raw }}
    where {{ not_quarantined('lists', 'list_members') }}

),

renamed as (

    select
        member_key,
        list_name,
        source_row,
        {{ normalize_email(column_or_null(columns, 'email')) }} as email,
        {{ normalize_phone(column_or_null(columns, 'phone'), column_or_null(columns, 'country')) }} as phone,
        nullif(trim({{ column_or_null(columns, 'first_name') }}), '') as first_name,
        nullif(trim({{ column_or_null(columns, 'last_name') }}), '') as last_name,
        {{ safe_cast(column_or_null(columns, 'date_of_birth'), 'date') }} as date_of_birth,
        nullif(trim({{ column_or_null(columns, 'street_address') }}), '') as street_address,
        nullif(trim({{ column_or_null(columns, 'city') }}), '') as city,
        upper(nullif(trim({{ column_or_null(columns, 'postcode') }}), '')) as postcode,
        nullif(trim({{ column_or_null(columns, 'state') }}), '') as state,
        {{ normalize_country(column_or_null(columns, 'country')) }} as country_code,
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
