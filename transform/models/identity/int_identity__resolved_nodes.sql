{#-
  Every graph node with the cluster it resolves to. Probabilistic links that together (not
  pair by pair) would break a per-customer limit are not used: such a cluster falls back to
  its deterministic components.
-#}
{%- set limited = identity_limited_types() -%}
with nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

deterministic as (
    select node_id, component_id as deterministic_component_id
    from {{ ref('int_identity__deterministic_components') }}
),

joined as (
    select
        nodes.node_id,
        nodes.identifier_key,
        nodes.identifier_type,
        deterministic.deterministic_component_id,
        final_components.component_id as joined_component_id
    from nodes
    inner join deterministic on nodes.node_id = deterministic.node_id
    inner join {{ ref('int_identity__components') }} as final_components
        on deterministic.deterministic_component_id = final_components.node_id
),

broken as (
    select joined_component_id
    from joined
    group by joined_component_id
    having {% for spec in limited %}sum(case when identifier_type = '{{ spec.type }}' then 1 else 0 end) > {{ spec.max }}{% if not loop.last %} or {% endif %}{% endfor %}
       {%- if not limited %}1 = 0{% endif %}
),

final as (
    select
        joined.node_id,
        joined.identifier_key,
        joined.identifier_type,
        joined.deterministic_component_id,
        case
            when broken.joined_component_id is not null then joined.deterministic_component_id
            else joined.joined_component_id
        end as cluster_id,
        broken.joined_component_id is not null as is_probabilistic_fallback
    from joined
    left join broken on joined.joined_component_id = broken.joined_component_id
)

select * from final
