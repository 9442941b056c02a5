{#-
  RFM scores of the customers with at least one completed order: recency (days since the
  last completed order, fewer is better), frequency (completed orders) and monetary
  (revenue_usd) each cut into quintiles with ntile(5), 5 the best. Customers with equal values
  share a score, the lowest their value reaches (so every one-order customer has frequency 1).
  The segment is the first entry of vars.profiles.rfm_segments whose score ranges hold.
-#}
with buyers as (
    select customer_id, days_since_last_order, orders_count, revenue_usd
    from {{ ref('int_profiles__order_traits') }}
    where orders_count > 0
),

tiles as (
    select
        *,
        ntile(5) over (order by days_since_last_order desc, customer_id) as recency_tile,
        ntile(5) over (order by orders_count, customer_id) as frequency_tile,
        ntile(5) over (
            partition by case when revenue_usd is null then 1 else 0 end
            order by revenue_usd, customer_id
        ) as monetary_tile
    from buyers
),

scored as (
    select
        customer_id,
        days_since_last_order,
        orders_count,
        revenue_usd,
        min(recency_tile) over (partition by days_since_last_order) as recency_score,
        min(frequency_tile) over (partition by orders_count) as frequency_score,
        case when revenue_usd is not null then min(monetary_tile) over (partition by revenue_usd) end as monetary_score
    from tiles
),

final as (
    select
        customer_id,
        cast(recency_score as integer) as rfm_recency_score,
        cast(frequency_score as integer) as rfm_frequency_score,
        cast(monetary_score as integer) as rfm_monetary_score,
        cast(recency_score as {{ dbt.type_string() }})
            || cast(frequency_score as {{ dbt.type_string() }})
            || coalesce(cast(monetary_score as {{ dbt.type_string() }}), '-') as rfm_score,
        {{ rfm_segment('recency_score', 'frequency_score', 'monetary_score') }} as rfm_segment
    from scored
)

select * from final
