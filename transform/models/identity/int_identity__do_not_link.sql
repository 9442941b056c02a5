{#-
  Identifier pairs that must never be linked: the do-not-link seed. (Pairs a reviewer rejected
  in the review queue are do-not-links of the probabilistic stage, int_identity__probabilistic_links:
  reading the queue here would make the graph depend on its own output.)
-#}
with listed as (
    select
        {{ identifier_key('trim(identifier_type_a)', 'trim(identifier_value_a)') }} as key_1,
        {{ identifier_key('trim(identifier_type_b)', 'trim(identifier_value_b)') }} as key_2,
        coalesce(reason, 'listed') as reason
    from {{ ref('identity_do_not_link') }}
),

all_pairs as (
    select * from listed
),

final as (
    select
        case when key_1 < key_2 then key_1 else key_2 end as identifier_key_a,
        case when key_1 < key_2 then key_2 else key_1 end as identifier_key_b,
        min(reason) as reason
    from all_pairs
    where key_1 <> key_2
    group by 1, 2
)

select * from final
