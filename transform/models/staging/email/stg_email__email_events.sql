{#- Email-platform engagement, one row per platform event id. -#}
{%- set raw = source('email', 'email_events') -%}
{%- set columns = relation_columns(raw) -%}

with source as (

    select * from {{ raw }}
    where {{ not_quarantined('email', 'email_events') }}

),

renamed as (

    select
        coalesce(event_id, _dlt_id) as email_event_key,
        event_id,
        lower(event_type) as event_type,
        {{ normalize_email(column_or_null(columns, 'email')) }} as email,
        nullif(trim({{ column_or_null(columns, 'subscriber_id') }}), '') as subscriber_id,
        {{ column_or_null(columns, 'campaign_id') }} as campaign_id,
        {{ column_or_null(columns, 'campaign_name') }} as campaign_name,
        {{ safe_cast('occurred_at', 'timestamp') }} as occurred_at,
        {{ column_or_null(columns, 'link_url') }} as link_url,
        lower({{ column_or_null(columns, 'bounce_type') }}) as bounce_type,
        _source_file as source_file,
        _source_line as source_line,
        _dlt_load_id as load_id

    from source

),

deduplicated as (

    select
        *,
        row_number() over (partition by email_event_key order by load_id, source_file, source_line) as delivery_number

    from renamed

),

final as (

    select * from deduplicated
    where delivery_number = 1

)

select * from final
