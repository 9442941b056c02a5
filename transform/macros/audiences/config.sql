{#-
  Audiences (models/audiences) read their windows and thresholds from `vars.audiences` in
  dbt_project.yml and the time they are computed "as of" from profiles_as_of(), the same
  clock as the profiles they select from.
-#}

{% macro audiences_config() -%}
    {{ return(var('audiences', {}) or {}) }}
{%- endmacro %}

{#- A whole-number setting of vars.audiences (a window or threshold); fails the compile when it is not one. -#}
{% macro audience_setting(name, default) -%}
    {%- set value = audiences_config().get(name, default) -%}
    {%- if not (value | string | trim).isdigit() -%}
        {{ exceptions.raise_compiler_error("vars.audiences." ~ name ~ " must be a whole number >= 0, got '" ~ value ~ "'") }}
    {%- endif -%}
    {{ return(value | int) }}
{%- endmacro %}

{#-
  The select of an RFM audience: the active customers (int_audiences__customers) whose
  rfm_segment is `segment`, one of the segments of vars.profiles.rfm_segments.
-#}
{% macro rfm_segment_audience(segment) -%}
    {%- if segment not in rfm_segment_names() -%}
        {{ exceptions.raise_compiler_error("rfm_segment_audience: '" ~ segment ~ "' is not a segment of vars.profiles.rfm_segments (known: " ~ rfm_segment_names() | join(', ') ~ ")") }}
    {%- endif -%}
with customers as (
    select * from {{ ref('int_audiences__customers') }}
),

final as (
    select
        customer_id,
        email,
        phone,
        first_name,
        last_name,
        rfm_segment,
        rfm_score,
        orders_count,
        revenue_usd,
        last_order_at,
        days_since_last_order
    from customers
    where rfm_segment = '{{ segment }}'
)

select * from final
{%- endmacro %}
