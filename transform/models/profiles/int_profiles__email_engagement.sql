{#-
  Email engagement of every customer with email-platform events, as of profiles_as_of. A
  message is one campaign sent to the customer; it counts in a window when it was sent within
  the window's days before as_of, and as opened / clicked when any open / click of it came by
  as_of (a click counts as an open too: opens are not tracked when images are blocked).
  open rate = opened / sent messages of the window (null when none was sent).
-#}
{%- set as_of = profiles_as_of() -%}
{%- set windows = [30, 90] -%}
with events as (
    select
        records.customer_id,
        coalesce(email_events.campaign_id, email_events.email_event_key) as message_key,
        email_events.event_type,
        email_events.occurred_at
    from {{ staged('stg_email__email_events') }} as email_events
    inner join {{ ref('customer_records') }} as records
        on records.source_name = 'email'
       and records.table_name = 'email_events'
       and records.record_key = email_events.email_event_key
    where records.customer_id is not null
      and email_events.occurred_at <= {{ as_of }}
),

messages as (
    select
        customer_id,
        message_key,
        min(case when event_type = 'sent' then occurred_at end) as sent_at,
        max(case when event_type in ('opened', 'clicked') then 1 else 0 end) as is_opened,
        max(case when event_type = 'clicked' then 1 else 0 end) as is_clicked,
        max(case when event_type in ('opened', 'clicked') then occurred_at end) as last_opened_at,
        max(case when event_type = 'clicked' then occurred_at end) as last_clicked_at
    from events
    group by customer_id, message_key
),

final as (
    select
        customer_id,
        {%- for days in windows %}
        {%- set in_window = "sent_at > " ~ dbt.dateadd('day', -days, as_of) %}
        cast(sum(case when {{ in_window }} then 1 else 0 end) as {{ dbt.type_bigint() }}) as emails_sent_{{ days }}d,
        cast(sum(case when {{ in_window }} then is_opened else 0 end) as {{ dbt.type_bigint() }}) as emails_opened_{{ days }}d,
        cast(sum(case when {{ in_window }} then is_clicked else 0 end) as {{ dbt.type_bigint() }}) as emails_clicked_{{ days }}d,
        case when sum(case when {{ in_window }} then 1 else 0 end) > 0
            then cast(sum(case when {{ in_window }} then is_opened else 0 end) as {{ cdp_type('double') }})
                 / sum(case when {{ in_window }} then 1 else 0 end)
        end as email_open_rate_{{ days }}d,
        {%- endfor %}
        max(last_opened_at) as last_email_opened_at,
        max(last_clicked_at) as last_email_clicked_at
    from messages
    group by customer_id
)

select * from final
