{#-
  CRM contacts: HubSpot property strings typed, identifiers normalized. A contact deleted
  (archived) in the CRM no longer comes back from its searches: it is archived here when
  stg_crm__archived_contacts lists it, unless the version loaded is newer than the deletion
  (restored since).
-#}
{%- set raw = source('crm', 'contacts') -%}
{%- set columns = relation_columns(raw) -%}

with source as (

    select * from {{ raw }}
    where {{ not_quarantined('crm', 'contacts') }}

),

deleted as (

    select
        contact_id as deleted_contact_id,
        max(archived_at) as deleted_at

    from {{ staged('stg_crm__archived_contacts') }} as archived_contacts
    group by contact_id

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as contact_id,
        {{ normalize_email(column_or_null(columns, 'properties__email')) }} as email,
        nullif(trim({{ column_or_null(columns, 'properties__email') }}), '') as email_as_entered,
        {{ normalize_phone(column_or_null(columns, 'properties__phone'), column_or_null(columns, 'properties__country')) }} as phone,
        nullif(trim({{ column_or_null(columns, 'properties__firstname') }}), '') as first_name,
        nullif(trim({{ column_or_null(columns, 'properties__lastname') }}), '') as last_name,
        nullif(trim({{ column_or_null(columns, 'properties__company') }}), '') as company_name,
        nullif(trim({{ column_or_null(columns, 'properties__jobtitle') }}), '') as job_title,
        nullif(trim({{ column_or_null(columns, 'properties__city') }}), '') as city,
        nullif(trim({{ column_or_null(columns, 'properties__state') }}), '') as state,
        nullif(trim({{ column_or_null(columns, 'properties__zip') }}), '') as postcode,
        {{ normalize_country(column_or_null(columns, 'properties__country')) }} as country_code,
        lower(nullif(trim({{ column_or_null(columns, 'properties__lifecyclestage') }}), '')) as lifecycle_stage,
        nullif(trim({{ column_or_null(columns, 'properties__hubspot_owner_id') }}), '') as owner_id,
        nullif(trim({{ column_or_null(columns, 'properties__associatedcompanyid') }}), '') as company_id,
        {{ safe_cast(column_or_null(columns, 'properties__hs_email_optout'), 'boolean') }} as has_opted_out_of_email,
        {{ timestamp_from_text(column_or_null(columns, 'properties__createdate')) }} as created_at,
        {{ safe_cast('updated_at', 'timestamp') }} as updated_at,
        case
            when deleted.deleted_contact_id is not null then true
            else {{ column_or_null(columns, 'archived', 'boolean') }}
        end as is_archived,
        _dlt_load_id as load_id

    from source
    left join deleted
        on deleted.deleted_contact_id = cast(source.id as {{ dbt.type_string() }})
        and (
            deleted.deleted_at is null
            or source.updated_at is null
            or deleted.deleted_at >= {{ safe_cast('source.updated_at', 'timestamp') }}
        )

),

final as (

    select * from renamed

)

select * from final
