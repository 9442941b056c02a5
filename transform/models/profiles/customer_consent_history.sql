{#-
  The consent history: one row per consent signal about an active customer, for the channels
  of vars.profiles.consent_channels, from every source that gives one:
  - events: the Segment consent category `advertising` (true/false) -> ads. The categories
    `analytics` and `personalization` are purposes of the site's own processing, not channels
    the platform activates: they are left out;
  - crm: a contact opted out of email (`hs_email_optout` true) -> email denied, at the
    contact's last change made in the CRM (false is the CRM's default, not a consent, so it is
    no signal; the CRM pull reads no other subscription property);
  - email platform: `subscribed` (a confirmed opt-in) -> email granted; `unsubscribed` ->
    email denied; a hard `bounced` -> a hard bounce (the address cannot receive email);
  - lists: each consent column of the list mapping (`{consent: <channel>}`), yes/no answers;
    a list row has no time of its own, so its signal is undated.
  Every signal is kept, also those after profiles_as_of: customer_consent derives the current
  consent from this table by the rule in its header (latest explicit signal wins; a hard
  bounce blocks email).
-#}
{%- set ts = cdp_type('timestamp') -%}
{%- set channels = consent_channels() -%}
with signals as (
    select
        'events' as source_name, 'events' as table_name, event_key as record_key,
        'ads' as channel,
        case when consent_advertising then 'opt_in' else 'opt_out' end as signal_type,
        consent_advertising as granted,
        occurred_at as signal_at
    from {{ staged('stg_events__events') }}
    where consent_advertising is not null
    union all
    select
        'crm', 'contacts', contact_id, 'email', 'opt_out', false,
        coalesce(updated_at, created_at)
    from {{ staged('stg_crm__contacts') }}
    where has_opted_out_of_email
    union all
    select
        'email', 'email_events', email_event_key, 'email',
        case event_type when 'subscribed' then 'opt_in' when 'unsubscribed' then 'opt_out' else 'hard_bounce' end,
        event_type = 'subscribed',
        occurred_at
    from {{ staged('stg_email__email_events') }}
    where event_type in ('subscribed', 'unsubscribed') or (event_type = 'bounced' and bounce_type = 'hard')
    {%- for channel in channels %}
    union all
    select
        'lists', 'list_members', member_key, '{{ channel }}',
        case when {{ consent_answer(json_text('consent_json', channel)) }} then 'opt_in' else 'opt_out' end,
        {{ consent_answer(json_text('consent_json', channel)) }},
        cast(null as {{ ts }})
    from {{ staged('stg_lists__list_members') }}
    where {{ consent_answer(json_text('consent_json', channel)) }} is not null
    {%- endfor %}
),

records as (
    select source_name, table_name, record_key, record_ref, customer_id
    from {{ ref('customer_records') }}
    where customer_id is not null
),

final as (
    select
        records.record_ref || ':' || signals.channel as consent_signal_key,
        records.customer_id,
        records.record_ref,
        signals.source_name || '/' || signals.table_name as source,
        signals.channel,
        signals.signal_type,
        signals.granted,
        cast(signals.signal_at as {{ ts }}) as signal_at
    from signals
    inner join records
        on signals.source_name = records.source_name
       and signals.table_name = records.table_name
       and signals.record_key = records.record_key
    where signals.channel in ({% for channel in channels %}'{{ channel }}'{% if not loop.last %}, {% endif %}{% endfor %})
)

select * from final
