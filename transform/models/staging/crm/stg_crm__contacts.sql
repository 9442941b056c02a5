{#-
  CRM contacts: HubSpot property strings typed, identifiers normalized. `updated_at` is the
  last modification made in the CRM; HubSpot's own last-modified date, which the platform's
  pushes move too, is `crm_updated_at`. A contact deleted (archived) in the CRM no longer
  comes back from its searches: it is archived here when stg_crm__archived_contacts lists it,
  unless the version loaded is newer than the deletion (restored since).

  A property value the platform itself wrote there (the CRM sync's `both` fields, e.g. a name
  the CRM had empty) is left out (null): the CRM holding it again is no new evidence of the
  person, and identity and attributes must not count the platform's own guess twice (nor
  change the profile it came from on the next run). It counts again once someone edits it in
  the CRM. crm_sync.contact_field_history says whose each current value is.
-#}
{#- owner_id refers to stg_crm__owners: built first, so its relationship test runs with this model
    (Dagster builds the two in different steps, around the CRM sync's reconcile) -#}
-- depends_on: {{ ref('stg_crm__owners') }}
{%- set raw = source('crm', 'contacts') -%}
{%- set columns = relation_columns(raw) -%}
{%- set evidence = ['phone', 'firstname', 'lastname', 'company', 'jobtitle', 'city', 'state', 'zip', 'country'] -%}
{%- set prop = {} -%}
{%- for name in evidence -%}
    {%- set column = column_or_null(columns, 'properties__' ~ name) -%}
    {%- do prop.update({name: 'case when platform_written.written_' ~ name ~ ' = trim(' ~ column ~ ') then null else '
                              ~ column ~ ' end'}) -%}
{%- endfor %}

with source as (

    select * from {{ raw }}
    where {{ not_quarantined('crm', 'contacts') }}

),

platform_written as (

    {#- the current value of each property, where the platform wrote it -#}
    select
        contact_id,
        {%- for name in evidence %}
        max(case when field = '{{ name }}' then value end) as written_{{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (
        select
            contact_id, field, value, origin,
            row_number() over (partition by contact_id, field order by changed_at desc, recorded_at desc) as n
        from {{ source('crm_sync', 'contact_field_history') }}
    ) as history
    where n = 1 and origin = 'platform'
    group by contact_id

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
        {{ normalize_phone(prop['phone'], prop['country']) }} as phone,
        nullif(trim({{ prop['firstname'] }}), '') as first_name,
        nullif(trim({{ prop['lastname'] }}), '') as last_name,
        nullif(trim({{ prop['company'] }}), '') as company_name,
        nullif(trim({{ prop['jobtitle'] }}), '') as job_title,
        nullif(trim({{ prop['city'] }}), '') as city,
        nullif(trim({{ prop['state'] }}), '') as state,
        nullif(trim({{ prop['zip'] }}), '') as postcode,
        {{ normalize_country(prop['country']) }} as country_code,
        lower(nullif(trim({{ column_or_null(columns, 'properties__lifecyclestage') }}), '')) as lifecycle_stage,
        nullif(trim({{ column_or_null(columns, 'properties__hubspot_owner_id') }}), '') as owner_id,
        nullif(trim({{ column_or_null(columns, 'properties__associatedcompanyid') }}), '') as company_id,
        {{ safe_cast(column_or_null(columns, 'properties__hs_email_optout'), 'boolean') }} as has_opted_out_of_email,
        {{ timestamp_from_text(column_or_null(columns, 'properties__createdate')) }} as created_at,
        {{ safe_cast('updated_at', 'timestamp') }} as crm_updated_at,
        case
            when deleted.deleted_contact_id is not null then true
            else {{ column_or_null(columns, 'archived', 'boolean') }}
        end as is_archived,
        _dlt_load_id as load_id

    from source
    left join platform_written
        on platform_written.contact_id = cast(source.id as {{ dbt.type_string() }})
    left join deleted
        on deleted.deleted_contact_id = cast(source.id as {{ dbt.type_string() }})
        and (
            deleted.deleted_at is null
            or source.updated_at is null
            or deleted.deleted_at >= {{ safe_cast('source.updated_at', 'timestamp') }}
        )

),

edits as (

    {#- the CRM sync's record of each modification and whose it was (macros/crm_sync.sql) -#}
    select
        contact_id,
        max(case when origin = 'crm' then modified_at end) as edited_at,
        count(*) as modifications
    from {{ source('crm_sync', 'contact_edits') }}
    group by contact_id

),

platform_created as (

    select distinct edits.contact_id
    from {{ source('crm_sync', 'contact_edits') }} as edits
    inner join renamed
        on renamed.contact_id = edits.contact_id
       and edits.origin = 'platform'
       and edits.modified_at = renamed.created_at

),

final as (

    select
        renamed.*,
        {#- the last change made in the CRM: the platform's own pushes coming back do not move it
            (null for a contact only the platform ever wrote); HubSpot's own date when the sync
            has not recorded the contact yet -#}
        case when edits.modifications is null then renamed.crm_updated_at else edits.edited_at end as updated_at,
        platform_created.contact_id is not null as is_platform_created
    from renamed
    left join edits on edits.contact_id = renamed.contact_id
    left join platform_created on platform_created.contact_id = renamed.contact_id

)

select * from final
