{#-
  Every link the graph considered, deterministic (shared identifiers on a record) and
  probabilistic (Splink matches, accepted reviews), with whether it was used and, if not, the
  rule that dropped it.
-#}
with deterministic as (
    select
        links.identifier_key_a,
        links.identifier_key_b,
        'deterministic' as link_type,
        cast(null as {{ cdp_type('double') }}) as match_probability,
        links.evidence_records,
        links.example_record_ref,
        coalesce(
            links.drop_rule,
            case when breaks_a.identifier_key is not null then breaks_a.rule end,
            case when breaks_b.identifier_key is not null then breaks_b.rule end
        ) as drop_rule,
        case
            when links.drop_rule is null and coalesce(breaks_a.identifier_key, breaks_b.identifier_key) is not null
                then 'detached ' || coalesce(breaks_a.identifier_key, breaks_b.identifier_key)
        end as drop_detail
    from {{ ref('int_identity__links') }} as links
    left join {{ ref('int_identity__limit_breaks') }} as breaks_a on links.identifier_key_a = breaks_a.identifier_key
    left join {{ ref('int_identity__limit_breaks') }} as breaks_b on links.identifier_key_b = breaks_b.identifier_key
),

probabilistic as (
    select
        links.identifier_key_a,
        links.identifier_key_b,
        links.link_type,
        links.match_probability,
        links.evidence_records,
        links.example_record_ref,
        coalesce(
            links.drop_rule,
            case when resolved.is_probabilistic_fallback then 'limit (probabilistic group)' end
        ) as drop_rule,
        case when links.drop_rule is null and resolved.is_probabilistic_fallback
            then 'the links of this cluster together would break a per-customer limit' end as drop_detail
    from {{ ref('int_identity__probabilistic_links') }} as links
    left join {{ ref('int_identity__resolved_nodes') }} as resolved on links.node_id_a = resolved.node_id
),

final as (
    select *, drop_rule is null as is_used from deterministic
    union all
    select *, drop_rule is null as is_used from probabilistic
)

select * from final
