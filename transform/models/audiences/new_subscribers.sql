{#-
  Active customers whose email consent is granted now (customer_consent, as of
  profiles_as_of) by an opt-in given within vars.audiences.new_subscriber_days days before
  profiles_as_of (the window includes both ends). An undated opt-in (a list row) says nothing
  about when the person subscribed, so it never makes anyone new.
-#}
{%- set as_of = profiles_as_of() -%}
{%- set days = audience_setting('new_subscriber_days', 30) -%}
with customers as (
    select * from {{ ref('int_audiences__customers') }}
),

email_consent as (
    select customer_id, signal_at, signal_source
    from {{ ref('customer_consent') }}
    where channel = 'email'
      and status = 'granted'
      and signal_type = 'opt_in'
      and signal_at >= {{ dbt.dateadd('day', -days, as_of) }}
      and signal_at <= {{ as_of }}
),

final as (
    select
        customers.customer_id,
        customers.email,
        customers.phone,
        customers.first_name,
        customers.last_name,
        email_consent.signal_at as subscribed_at,
        email_consent.signal_source as subscribed_via
    from customers
    inner join email_consent on customers.customer_id = email_consent.customer_id
)

select * from final
