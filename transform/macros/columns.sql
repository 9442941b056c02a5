{#-
  Raw tables grow with their feeds: dlt adds a column the first time a value arrives. Staging
  models select optional columns through these macros so that a column not seen yet reads as
  a typed null instead of breaking the build.
-#}
{% macro relation_columns(relation) -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(relation) -%}
    {{ return(columns | map(attribute='name') | map('lower') | list) }}
{%- endmacro %}

{% macro column_or_null(columns, name, data_type='text') -%}
    {%- if name | lower in columns -%}{{ adapter.quote(name) }}{%- else -%}cast(null as {{ cdp_type(data_type) }}){%- endif -%}
{%- endmacro %}

{#- dlt puts a value of the wrong type in a variant column `<name>__v_<type>`; this says whether one has appeared. -#}
{% macro variant_columns(columns, name) -%}
    {{ return(columns | select('match', (name | lower) ~ '__v_') | list) }}
{%- endmacro %}

{% macro cdp_type(data_type) -%}
    {{ return(adapter.dispatch('cdp_type', 'opencdp')(data_type)) }}
{%- endmacro %}

{% macro default__cdp_type(data_type) -%}
    {%- set types = {
        'text': dbt.type_string(),
        'timestamp': 'timestamp with time zone',
        'date': 'date',
        'bigint': dbt.type_bigint(),
        'double': 'double precision',
        'numeric': 'numeric(18, 4)',
        'boolean': 'boolean',
    } -%}
    {{ return(types.get(data_type, data_type)) }}
{%- endmacro %}

{% macro duckdb__cdp_type(data_type) -%}
    {%- set types = {
        'text': 'varchar',
        'timestamp': 'timestamp with time zone',
        'date': 'date',
        'bigint': 'bigint',
        'double': 'double',
        'numeric': 'decimal(18, 4)',
        'boolean': 'boolean',
    } -%}
    {{ return(types.get(data_type, data_type)) }}
{%- endmacro %}

{#-
  A child table dlt loads beside a source table (a nested list: `events__properties__products`).
  It is not a dbt source of its own: it belongs to the same load as its parent, and calling
  `source()` here makes the parent source the model's upstream, so lineage runs through it.
-#}
{% macro child_table(source_name, table_name, path) -%}
    {%- set parent = source(source_name, table_name) -%}
    {{ return(api.Relation.create(database=parent.database, schema=parent.schema, identifier=parent.identifier ~ '__' ~ path)) }}
{%- endmacro %}

{#-
  A raw table that may not be there yet: dlt creates a table with its first row, and some feeds
  have none for a while (a CRM where nobody has deleted a contact has no `archived_contacts`).
  The source relation, or, while it is not in the warehouse, an empty relation with the columns
  listed (name -> logical type, see cdp_type): the ones the model reads directly; those it reads
  through `column_or_null` need not be listed. `source()` is called either way, so lineage is
  unchanged. Give it an alias: `from {{ optional_source(...) }} as raw_rows`.
-#}
{% macro optional_source(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and model.resource_type != 'unit_test'
          and adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        {{ log(source_name ~ "." ~ table_name ~ " is not loaded yet; reading it as empty", info=true) }}
        (select {% for name, data_type in columns.items() %}cast(null as {{ cdp_type(data_type) }}) as {{ adapter.quote(name) }}{% if not loop.last %}, {% endif %}{% endfor %} where 1 = 0)
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
