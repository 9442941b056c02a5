{#- Segment events, typed and renamed, one row per messageId (Segment delivers at least once). -#}
{%- set raw = source('events', 'events') -%}
{%- set columns = relation_columns(raw) -%}

with source as (

    select * from {{ raw }}
    where {{ not_quarantined('events', 'events') }}

),

renamed as (

    select
        coalesce(message_id, _dlt_id) as event_key,
        message_id,
        type as event_type,
        {{ column_or_null(columns, 'event') }} as event_name,
        {{ column_or_null(columns, 'name') }} as screen_or_page_name,
        nullif(trim(anonymous_id), '') as anonymous_id,
        nullif(trim({{ column_or_null(columns, 'user_id') }}), '') as user_id,
        {{ safe_cast(adapter.quote('timestamp'), 'timestamp') }} as occurred_at,
        {{ safe_cast(column_or_null(columns, 'original_timestamp'), 'timestamp') }} as original_occurred_at,
        {{ safe_cast(column_or_null(columns, 'sent_at'), 'timestamp') }} as sent_at,
        {{ safe_cast('received_at', 'timestamp') }} as received_at,
        {{ normalize_email(column_or_null(columns, 'traits__email')) }} as email,
        {{ normalize_phone(column_or_null(columns, 'traits__phone')) }} as phone,
        nullif(trim({{ column_or_null(columns, 'traits__first_name') }}), '') as first_name,
        nullif(trim({{ column_or_null(columns, 'traits__last_name') }}), '') as last_name,
        {{ column_or_null(columns, 'context__device__id') }} as device_id,
        {{ column_or_null(columns, 'context__device__type') }} as device_type,
        {{ column_or_null(columns, 'context__ip') }} as ip_address,
        {{ column_or_null(columns, 'context__user_agent') }} as user_agent,
        {{ column_or_null(columns, 'context__page__url') }} as page_url,
        {{ column_or_null(columns, 'context__page__path') }} as page_path,
        {{ column_or_null(columns, 'context__page__referrer') }} as page_referrer,
        {{ column_or_null(columns, 'properties__order_id') }} as order_id,
        {{ column_or_null(columns, 'properties__product_id') }} as product_id,
        {{ safe_cast(column_or_null(columns, 'properties__revenue', 'double'), 'numeric') }} as revenue,
        upper({{ column_or_null(columns, 'properties__currency') }}) as currency,
        {{ safe_cast(column_or_null(columns, 'properties__price', 'double'), 'numeric') }} as unit_price,
        {{ safe_cast(column_or_null(columns, 'properties__quantity', 'bigint'), 'bigint') }} as quantity,
        {{ column_or_null(columns, 'properties__cart_id') }} as cart_id,
        {{ column_or_null(columns, 'context__consent__category_preferences__analytics', 'boolean') }} as consent_analytics,
        {{ column_or_null(columns, 'context__consent__category_preferences__advertising', 'boolean') }} as consent_advertising,
        {{ column_or_null(columns, 'context__consent__category_preferences__personalization', 'boolean') }} as consent_personalization,
        _source_file as source_file,
        _source_line as source_line,
        _dlt_load_id as load_id,
        _dlt_id as raw_row_id

    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by event_key
            order by received_at, load_id, source_file, source_line
        ) as delivery_number

    from renamed

),

final as (

    select * from deduplicated
    where delivery_number = 1

)

select * from final
