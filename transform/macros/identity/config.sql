{#-
  Identity resolution reads its rules from one place: `vars.identity` in dbt_project.yml.
  These macros turn that configuration into SQL fragments.
-#}

{% macro identity_config() -%}
    {{ return(var('identity')) }}
{%- endmacro %}

{#- Identifier types in priority order (highest first). -#}
{% macro identity_types() -%}
    {{ return(identity_config()['identifier_types']) }}
{%- endmacro %}

{#- The rank of an identifier type: 1 is the highest priority; unknown types rank last. -#}
{% macro identity_type_rank(type_expression) -%}
    case {{ type_expression }}
    {%- for spec in identity_types() %}
        when '{{ spec.type }}' then {{ loop.index }}
    {%- endfor %}
        else {{ identity_types() | length + 1 }}
    end
{%- endmacro %}

{#- Types with a per-customer limit (`max_per_customer`), as a list of {type, max}. -#}
{% macro identity_limited_types() -%}
    {%- set limited = [] -%}
    {%- for spec in identity_types() if spec.get('max_per_customer') is not none -%}
        {%- do limited.append({'type': spec.type, 'max': spec.max_per_customer | int}) -%}
    {%- endfor -%}
    {{ return(limited) }}
{%- endmacro %}

{#- SQL `in` list of the limited types' names. -#}
{% macro identity_limited_type_list() -%}
    {%- set names = [] -%}
    {%- for spec in identity_limited_types() -%}{%- do names.append("'" ~ spec.type ~ "'") -%}{%- endfor -%}
    {{ return(names | join(', ') if names else "''") }}
{%- endmacro %}

{#- The per-customer limit of a type (null when it has none). -#}
{% macro identity_type_limit(type_expression) -%}
    case {{ type_expression }}
    {%- for spec in identity_limited_types() %}
        when '{{ spec.type }}' then {{ spec.max }}
    {%- endfor %}
    end
{%- endmacro %}

{#- How many distinct persons a value of the type may be seen with before it stops linking (null: no bound). -#}
{% macro identity_type_max_persons(type_expression) -%}
    case {{ type_expression }}
    {%- for spec in identity_types() if spec.get('max_persons') is not none %}
        when '{{ spec.type }}' then {{ spec.max_persons | int }}
    {%- endfor %}
    end
{%- endmacro %}

{#- Why a normalized identifier value never links anyone, or null when it may. -#}
{% macro identity_block_reason(type_expression, value_expression) -%}
    {%- set config = identity_config() -%}
    {%- set values = [] -%}
    {%- for value in config.get('blocked_values', []) -%}{%- do values.append("'" ~ (value | string | lower | replace("'", "''")) ~ "'") -%}{%- endfor -%}
    {%- set patterns = config.get('blocked_patterns', {}) -%}
    case
        when {{ value_expression }} is null or trim({{ value_expression }}) = '' then 'blank'
        {%- if values %}
        when lower(trim({{ value_expression }})) in ({{ values | join(', ') }}) then 'blocked_value'
        {%- endif %}
        {%- for type_name, type_patterns in patterns.items() %}
        {%- for pattern in type_patterns %}
        when {% if type_name != 'any' %}{{ type_expression }} = '{{ type_name }}' and {% endif -%}
            {{ regex_matches('lower(' ~ value_expression ~ ')', pattern) }} then 'blocked_pattern:{{ type_name }}'
        {%- endfor %}
        {%- endfor %}
    end
{%- endmacro %}

{#- `<type>:<value>`, the key that names an identifier everywhere. -#}
{% macro identifier_key(type_expression, value_expression) -%}
    {{ type_expression }} || ':' || {{ value_expression }}
{%- endmacro %}

{#-
  A source written by a Python step (probabilistic matching) that may not exist yet, e.g. on
  the very first build or when dbt runs alone: read it when present, else an empty relation
  with the same columns. Calling source() keeps the lineage either way.
-#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {{ select_or_empty(relation.database, relation.schema, relation.identifier, columns) }}
{%- endmacro %}

{#- `(select <columns> from <relation>)` when the relation exists, else an empty typed relation. -#}
{% macro select_or_empty(database, schema, identifier, columns) -%}
    {%- set existing = adapter.get_relation(database, schema, identifier) if execute else none -%}
    {%- if existing is not none -%}
        (select {% for name in columns %}{{ adapter.quote(name) }}{% if not loop.last %}, {% endif %}{% endfor %} from {{ existing }})
    {%- else -%}
        (select {% for name, data_type in columns.items() %}cast(null as {{ cdp_type(data_type) }}) as {{ adapter.quote(name) }}{% if not loop.last %}, {% endif %}{% endfor %} where 1 = 0)
    {%- endif -%}
{%- endmacro %}

{#-
  The previous run's state of another model in this model's schema (built later in the DAG,
  so still holding last run's rows when this model runs), or an empty relation when it does
  not exist yet. Used for the identifier -> customer map that merge/split history compares to.
-#}
{% macro previous_state(model_name, columns) -%}
    {{ select_or_empty(this.database, this.schema, model_name, columns) }}
{%- endmacro %}

{#- This run's start (UTC) as a timestamp literal: every row a run writes carries the same time. -#}
{% macro run_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}+00' as {{ cdp_type('timestamp') }})
{%- endmacro %}

{#-
  The staging models whose rows are identity records: the record key, when it was observed,
  and which column holds each identifier type.
-#}
{% macro identity_record_sources() -%}
    {{ return([
    {'model': 'stg_events__events', 'source': 'events', 'table': 'events', 'key': 'event_key', 'at': 'occurred_at',
     'ids': {'anonymous_id': 'anonymous_id', 'user_id': 'user_id', 'email': 'email', 'phone': 'phone',
             'device_id': 'lower(device_id)'}},
    {'model': 'stg_crm__contacts', 'source': 'crm', 'table': 'contacts', 'key': 'contact_id',
     'at': 'coalesce(updated_at, created_at)', 'where': 'is_archived is not true',
     'ids': {'crm_contact_id': 'contact_id', 'email': 'email', 'phone': 'phone'}},
    {'model': 'stg_commerce__customers', 'source': 'commerce', 'table': 'customers', 'key': 'loyalty_id',
     'at': 'coalesce(enrolled_at, updated_at)',
     'ids': {'loyalty_id': 'loyalty_id', 'email': 'email', 'phone': 'phone'}},
    {'model': 'stg_commerce__orders', 'source': 'commerce', 'table': 'orders', 'key': 'order_id', 'at': 'ordered_at',
     'ids': {'loyalty_id': 'loyalty_id', 'email': 'email'}},
    {'model': 'stg_email__email_events', 'source': 'email', 'table': 'email_events', 'key': 'email_event_key',
     'at': 'occurred_at', 'ids': {'email': 'email', 'email_subscriber_id': 'subscriber_id'}},
    {'model': 'stg_support__tickets', 'source': 'support', 'table': 'tickets', 'key': 'ticket_id', 'at': 'created_at',
     'ids': {'email': 'requester_email', 'phone': 'requester_phone'}},
    {'model': 'stg_lists__list_members', 'source': 'lists', 'table': 'list_members', 'key': 'member_key', 'at': 'null',
     'ids': {'email': 'email', 'phone': 'phone'}},
    ]) }}
{%- endmacro %}
