{#-
  Consent per active customer and channel (vars.profiles.consent_channels), as of
  profiles_as_of. Rule: the latest explicit signal (opt-in or opt-out) of any source wins;
  undated signals (list rows) rank below every dated one; at the same time an opt-out beats
  an opt-in. A hard bounce blocks email whatever was said before or after it (granted false,
  status `blocked`). No signal: granted is null and status `unknown`, never a yes.
-#}
{%- set as_of = profiles_as_of() -%}
with customers as (
    select customer_id from {{ ref('identity_customers') }}
    where status = 'active'
),

channels as (
    {%- for channel in consent_channels() %}
    select '{{ channel }}' as channel{% if not loop.last %} union all{% endif %}
    {%- endfor %}
),

signals as (
    select * from {{ ref('customer_consent_history') }}
    where signal_at is null or signal_at <= {{ as_of }}
),

explicit as (
    select
        *,
        row_number() over (
            partition by customer_id, channel
            order by
                case when signal_at is null then 1 else 0 end,
                signal_at desc,
                case when granted then 1 else 0 end,
                source,
                record_ref
        ) as signal_rank,
        count(*) over (partition by customer_id, channel) as signals_count
    from signals
    where signal_type in ('opt_in', 'opt_out')
),

latest_explicit as (
    select * from explicit where signal_rank = 1
),

hard_bounces as (
    select customer_id, channel, source, record_ref, signal_at
    from (
        select
            *,
            row_number() over (
                partition by customer_id, channel
                order by case when signal_at is null then 1 else 0 end, signal_at desc, record_ref
            ) as bounce_rank
        from signals
        where signal_type = 'hard_bounce'
    ) as ranked
    where bounce_rank = 1
),

final as (
    select
        customers.customer_id || ':' || channels.channel as consent_key,
        customers.customer_id,
        channels.channel,
        case
            when hard_bounces.customer_id is not null then false
            else latest_explicit.granted
        end as granted,
        case
            when hard_bounces.customer_id is not null then 'blocked'
            when latest_explicit.granted then 'granted'
            when not latest_explicit.granted then 'denied'
            else 'unknown'
        end as status,
        case when hard_bounces.customer_id is not null then hard_bounces.source else latest_explicit.source end
            as signal_source,
        case when hard_bounces.customer_id is not null then 'hard_bounce' else latest_explicit.signal_type end
            as signal_type,
        case when hard_bounces.customer_id is not null then hard_bounces.signal_at else latest_explicit.signal_at end
            as signal_at,
        case when hard_bounces.customer_id is not null then hard_bounces.record_ref else latest_explicit.record_ref end
            as signal_record_ref,
        latest_explicit.granted as latest_explicit_granted,
        latest_explicit.signal_at as latest_explicit_signal_at,
        hard_bounces.signal_at as hard_bounced_at,
        coalesce(latest_explicit.signals_count, 0) as explicit_signals_count
    from customers
    cross join channels
    left join latest_explicit
        on customers.customer_id = latest_explicit.customer_id and channels.channel = latest_explicit.channel
    left join hard_bounces
        on customers.customer_id = hard_bounces.customer_id and channels.channel = hard_bounces.channel
)

select * from final

-- depends_on: {{ source('identity', 'identity_health_history') }}
