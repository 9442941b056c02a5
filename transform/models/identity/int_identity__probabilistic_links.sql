{#-
  Probabilistic links: Splink pairs at or above the auto-merge threshold, and grey-band pairs a
  reviewer accepted (rejected ones too, kept for the audit: they are do-not-links), as links between the records' graph nodes (a record's hub, or its
  `record:` node when it has no identifier). A link is dropped (`drop_rule`) when the pair is on
  the do-not-link list or when joining the two components would break a per-customer limit
  (two CRM contacts of one person are a CRM duplicate to report, not to merge silently).
-#}
{%- set limited = identity_limited_types() -%}
with pairs as (
    select candidate_id_l, candidate_id_r, match_probability, 'probabilistic' as link_type
    from {{ source_or_empty('identity', 'identity_match_pairs', {
        'candidate_id_l': 'text', 'candidate_id_r': 'text', 'match_probability': 'double', 'decision': 'text'}) }} as scored
    where decision = 'auto_merge'
    union all
    select candidate_id_l, candidate_id_r, match_probability, 'review_' || status
    from {{ source_or_empty('identity', 'identity_review_queue', {
        'candidate_id_l': 'text', 'candidate_id_r': 'text', 'match_probability': 'double', 'status': 'text'}) }} as queue
    where status in ('accepted', 'rejected')
),

record_nodes as (
    select record_ref, coalesce(hub_key, 'record:' || record_ref) as node_key
    from {{ ref('int_identity__record_attributes') }}
),

nodes as (
    select identifier_key, node_id from {{ ref('int_identity__nodes') }}
),

components as (
    select node_id, component_id from {{ ref('int_identity__deterministic_components') }}
),

{#- values of each limited type per deterministic component -#}
limited_counts as (
    select
        components.component_id
        {%- for spec in limited %},
        sum(case when typed.identifier_type = '{{ spec.type }}' then 1 else 0 end) as n_{{ spec.type }}
        {%- endfor %}
    from components
    inner join {{ ref('int_identity__nodes') }} as typed on components.node_id = typed.node_id
    group by components.component_id
),

placed as (
    select
        case when left_node.node_key < right_node.node_key then left_node.node_key else right_node.node_key end as identifier_key_a,
        case when left_node.node_key < right_node.node_key then right_node.node_key else left_node.node_key end as identifier_key_b,
        pairs.match_probability,
        pairs.link_type,
        pairs.candidate_id_l || ' ~ ' || pairs.candidate_id_r as example_record_ref
    from pairs
    inner join record_nodes as left_node on pairs.candidate_id_l = left_node.record_ref
    inner join record_nodes as right_node on pairs.candidate_id_r = right_node.record_ref
    where left_node.node_key <> right_node.node_key
),

deduplicated as (
    select
        identifier_key_a,
        identifier_key_b,
        max(match_probability) as match_probability,
        max(link_type) as link_type,  -- review_rejected > review_accepted > probabilistic: a rejection wins
        count(*) as evidence_records,
        min(example_record_ref) as example_record_ref
    from placed
    group by identifier_key_a, identifier_key_b
),

checked as (
    select
        links.*,
        node_a.node_id as node_id_a,
        node_b.node_id as node_id_b,
        component_a.component_id as component_id_a,
        component_b.component_id as component_id_b,
        case
            when links.link_type = 'review_rejected' or do_not_link.identifier_key_a is not null then 'do_not_link'
            {%- for spec in limited %}
            when coalesce(counts_a.n_{{ spec.type }}, 0) + coalesce(counts_b.n_{{ spec.type }}, 0) > {{ spec.max }}
                 and component_a.component_id <> component_b.component_id then 'limit:{{ spec.type }}'
            {%- endfor %}
        end as drop_rule
    from deduplicated as links
    inner join nodes as node_a on links.identifier_key_a = node_a.identifier_key
    inner join nodes as node_b on links.identifier_key_b = node_b.identifier_key
    inner join components as component_a on node_a.node_id = component_a.node_id
    inner join components as component_b on node_b.node_id = component_b.node_id
    left join limited_counts as counts_a on component_a.component_id = counts_a.component_id
    left join limited_counts as counts_b on component_b.component_id = counts_b.component_id
    left join {{ ref('int_identity__do_not_link') }} as do_not_link
        on links.identifier_key_a = do_not_link.identifier_key_a
       and links.identifier_key_b = do_not_link.identifier_key_b
),

final as (
    select * from checked
)

select * from final
