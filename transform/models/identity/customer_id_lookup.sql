{#-
  Any customer id ever issued -> the active customer it is today. A retired (merged) id
  follows its merge chain, so lookups by an old id keep working forever.
-#}
with recursive chain as (
    select customer_id as looked_up_id, customer_id, status, merged_into_customer_id, 0 as hops
    from {{ ref('identity_customers') }}
    union all
    select chain.looked_up_id, next_customer.customer_id, next_customer.status, next_customer.merged_into_customer_id, chain.hops + 1
    from chain
    inner join {{ ref('identity_customers') }} as next_customer
        on chain.merged_into_customer_id = next_customer.customer_id
    where chain.status = 'merged' and chain.hops < 20
),

final as (
    select
        looked_up_id as customer_id,
        max(case when status = 'active' then customer_id end) as current_customer_id,
        max(hops) as merge_hops
    from chain
    group by looked_up_id
)

select * from final
