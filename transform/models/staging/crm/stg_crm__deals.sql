{#- CRM deals: HubSpot property strings typed; whether a deal is closed and won follows the default pipeline's stages. -#}
{%- set raw = source('crm', 'deals') -%}
{%- set columns = relation_columns(raw) -%}

with source as (

    select * from {{ optional_source('crm', 'deals', {'id': 'text', '_dlt_id': 'text', '_dlt_load_id': 'text'}) }} as raw_deals
    where {{ not_quarantined('crm', 'deals') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as deal_id,
        nullif(trim({{ column_or_null(columns, 'properties__dealname') }}), '') as deal_name,
        {{ safe_cast(column_or_null(columns, 'properties__amount'), 'numeric') }} as amount,
        lower(nullif(trim({{ column_or_null(columns, 'properties__dealstage') }}), '')) as deal_stage,
        lower(nullif(trim({{ column_or_null(columns, 'properties__pipeline') }}), '')) as pipeline,
        {{ timestamp_from_text(column_or_null(columns, 'properties__closedate')) }} as close_date_at,
        nullif(trim({{ column_or_null(columns, 'properties__hubspot_owner_id') }}), '') as owner_id,
        {{ timestamp_from_text(column_or_null(columns, 'properties__createdate')) }} as created_at,
        {{ safe_cast(column_or_null(columns, 'updated_at'), 'timestamp') }} as updated_at,
        _dlt_load_id as load_id

    from source

),

final as (

    select
        deal_id,
        deal_name,
        amount,
        deal_stage,
        pipeline,
        owner_id,
        deal_stage in ('closedwon', 'closedlost') as is_closed,
        deal_stage = 'closedwon' as is_won,
        case when deal_stage in ('closedwon', 'closedlost') then close_date_at end as closed_at,
        case when deal_stage not in ('closedwon', 'closedlost') then close_date_at end as expected_close_at,
        created_at,
        updated_at,
        load_id

    from renamed

)

select * from final
