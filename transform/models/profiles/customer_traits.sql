{#-
  Computed traits of every active customer, as of profiles_as_of: activity over all their
  source records, purchases (commerce/orders), RFM, email engagement, support, CRM lifecycle
  stage and consent per channel. A customer with no record of a kind gets zero counts and
  null times/rates.
-#}
{%- set channels = consent_channels() -%}
with customers as (
    select customer_id from {{ ref('identity_customers') }}
    where status = 'active'
),

activity as (
    select
        customer_id,
        min(first_at) as first_seen_at,
        max(last_at) as last_seen_at,
        count(*) as records_count
    from {{ ref('int_profiles__record_activity') }}
    group by customer_id
),

channels_seen as (
    select
        customer_id,
        {{ dbt.listagg('channel', "','", 'order by channel') }} as channels_seen,
        count(*) as channels_count
    from (select distinct customer_id, channel from {{ ref('int_profiles__record_activity') }}) as distinct_channels
    group by customer_id
),

orders as (
    select * from {{ ref('int_profiles__order_traits') }}
),

rfm as (
    select * from {{ ref('int_profiles__rfm') }}
),

email as (
    select * from {{ ref('int_profiles__email_engagement') }}
),

tickets as (
    select
        records.customer_id,
        tickets.ticket_id,
        tickets.is_open,
        tickets.created_at,
        row_number() over (
            partition by tickets.ticket_id
            order by case when tickets.updated_at is null then 1 else 0 end, tickets.updated_at desc, tickets.load_id desc
        ) as snapshot_rank
    from {{ staged('stg_support__tickets') }} as tickets
    inner join {{ ref('customer_records') }} as records
        on records.source_name = 'support'
       and records.table_name = 'tickets'
       and records.record_key = tickets.ticket_id
    where records.customer_id is not null
),

support as (
    select
        customer_id,
        count(*) as support_tickets_count,
        cast(sum(case when is_open then 1 else 0 end) as {{ dbt.type_bigint() }}) as open_support_tickets,
        max(created_at) as last_support_ticket_at
    from tickets
    where snapshot_rank = 1
    group by customer_id
),

crm as (
    select customer_id, lifecycle_stage
    from (
        select
            records.customer_id,
            contacts.lifecycle_stage,
            row_number() over (
                partition by records.customer_id
                order by
                    case when coalesce(contacts.updated_at, contacts.created_at) is null then 1 else 0 end,
                    coalesce(contacts.updated_at, contacts.created_at) desc,
                    contacts.contact_id desc
            ) as contact_rank
        from {{ staged('stg_crm__contacts') }} as contacts
        inner join {{ ref('customer_records') }} as records
            on records.source_name = 'crm'
           and records.table_name = 'contacts'
           and records.record_key = contacts.contact_id
        where records.customer_id is not null
    ) as ranked
    where contact_rank = 1
),

consent as (
    select
        customer_id,
        {%- for channel in channels %}
        max(case when channel = '{{ channel }}' then case when granted then 1 when not granted then 0 end end) as consent_{{ channel }}_flag,
        max(case when channel = '{{ channel }}' then status end) as consent_{{ channel }}_status,
        {%- endfor %}
        max(case when channel = 'email' and hard_bounced_at is not null then 1 else 0 end) as email_hard_bounced_flag
    from {{ ref('customer_consent') }}
    group by customer_id
),

final as (
    select
        customers.customer_id,
        activity.first_seen_at,
        activity.last_seen_at,
        coalesce(activity.records_count, 0) as records_count,
        channels_seen.channels_seen,
        coalesce(channels_seen.channels_count, 0) as channels_count,
        coalesce(orders.orders_count, 0) as orders_count,
        coalesce(orders.orders_all_count, 0) as orders_all_count,
        coalesce(orders.refunded_orders_count, 0) as refunded_orders_count,
        coalesce(orders.cancelled_orders_count, 0) as cancelled_orders_count,
        orders.first_order_at,
        orders.last_order_at,
        orders.revenue_currency,
        coalesce(orders.revenue, case when orders.customer_id is null then 0 end) as revenue,
        coalesce(orders.revenue_usd, case when orders.customer_id is null then 0 end) as revenue_usd,
        orders.average_order_value,
        orders.average_order_value_usd,
        orders.days_since_last_order,
        rfm.rfm_recency_score,
        rfm.rfm_frequency_score,
        rfm.rfm_monetary_score,
        rfm.rfm_score,
        rfm.rfm_segment,
        coalesce(email.emails_sent_30d, 0) as emails_sent_30d,
        coalesce(email.emails_opened_30d, 0) as emails_opened_30d,
        coalesce(email.emails_clicked_30d, 0) as emails_clicked_30d,
        email.email_open_rate_30d,
        coalesce(email.emails_sent_90d, 0) as emails_sent_90d,
        coalesce(email.emails_opened_90d, 0) as emails_opened_90d,
        coalesce(email.emails_clicked_90d, 0) as emails_clicked_90d,
        email.email_open_rate_90d,
        email.last_email_opened_at,
        email.last_email_clicked_at,
        coalesce(support.support_tickets_count, 0) as support_tickets_count,
        coalesce(support.open_support_tickets, 0) as open_support_tickets,
        support.last_support_ticket_at,
        crm.lifecycle_stage,
        {%- for channel in channels %}
        case consent.consent_{{ channel }}_flag when 1 then true when 0 then false end as consent_{{ channel }},
        coalesce(consent.consent_{{ channel }}_status, 'unknown') as consent_{{ channel }}_status,
        {%- endfor %}
        coalesce(consent.email_hard_bounced_flag, 0) = 1 as email_hard_bounced
    from customers
    left join activity on customers.customer_id = activity.customer_id
    left join channels_seen on customers.customer_id = channels_seen.customer_id
    left join orders on customers.customer_id = orders.customer_id
    left join rfm on customers.customer_id = rfm.customer_id
    left join email on customers.customer_id = email.customer_id
    left join support on customers.customer_id = support.customer_id
    left join crm on customers.customer_id = crm.customer_id
    left join consent on customers.customer_id = consent.customer_id
)

select * from final

-- depends_on: {{ source('identity', 'identity_health_history') }}
