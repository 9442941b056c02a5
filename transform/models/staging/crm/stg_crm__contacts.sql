{#- CRM contacts: HubSpot property strings typed, identifiers normalized. -#}
{%- set raw = source('crm', 'contacts') -%}
{%- set columns = relation_columns(raw) -%}
{%- macro prop(name, data_type='text') -%}{{ column_or_null(columns, 'properties__' ~ name, data_type) }}{%- endmacro -%}

with source as (

    select * from {{ raw }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as contact_id,
        {{ normalize_email(prop('email')) }} as email,
        nullif(trim({{ prop('email') }}), '') as email_as_entered,
        {{ normalize_phone(prop('phone'), prop('country')) }} as phone,
        nullif(trim({{ prop('firstname') }}), '') as first_name,
        nullif(trim({{ prop('lastname') }}), '') as last_name,
        nullif(trim({{ prop('company') }}), '') as company_name,
        nullif(trim({{ prop('jobtitle') }}), '') as job_title,
        nullif(trim({{ prop('city') }}), '') as city,
        nullif(trim({{ prop('state') }}), '') as state,
        nullif(trim({{ prop('zip') }}), '') as postcode,
        {{ normalize_country(prop('country')) }} as country_code,
        lower(nullif(trim({{ prop('lifecyclestage') }}), '')) as lifecycle_stage,
        nullif(trim({{ prop('hubspot_owner_id') }}), '') as owner_id,
        nullif(trim({{ prop('associatedcompanyid') }}), '') as company_id,
        {{ safe_cast(prop('hs_email_optout'), 'boolean') }} as has_opted_out_of_email,
        {{ timestamp_from_text(prop('createdate')) }} as created_at,
        {{ safe_cast('updated_at', 'timestamp') }} as updated_at,
        {{ column_or_null(columns, 'archived', 'boolean') }} as is_archived,
        _dlt_load_id as load_id

    from source

),

final as (

    select * from renamed

)

select * from final
