{#- Which contacts each deal is associated with (one row per deal and contact); a quarantined deal's rows are left out. -#}
{%- set raw = source('crm', 'deal_contacts') -%}
{%- set columns = relation_columns(raw) -%}

with source as (

    select * from {{ optional_source('crm', 'deal_contacts', {'id': 'text', 'deal_id': 'text', '_dlt_id': 'text', '_dlt_load_id': 'text'}) }} as raw_links
    where {{ not_quarantined('crm', 'deal_contacts') }}
      and {{ parent_not_quarantined('crm', 'deals', 'deal_id') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as deal_contact_key,
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        cast({{ column_or_null(columns, 'contact_id') }} as {{ dbt.type_string() }}) as contact_id,
        nullif(trim({{ column_or_null(columns, 'association_type_ids') }}), '') as association_type_ids,
        nullif(trim({{ column_or_null(columns, 'association_labels') }}), '') as association_labels,
        _dlt_load_id as load_id

    from source

),

final as (

    select * from renamed
    where contact_id is not null

)

select * from final
