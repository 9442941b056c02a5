{#-
  The quality gates' quarantine (written by expectations/gate.py, see expectations/quarantine.py).
  dbt creates the tables too, so the clean zone can be built before any gate has run; the two
  definitions are kept in step by tests/expectations/test_quarantine.py.
-#}
{% macro quality_schema() -%}
    {{ return(var('quality_schema', 'quality')) }}
{%- endmacro %}

{% macro quarantine_relation() -%}
    {{ return(api.Relation.create(schema=quality_schema(), identifier='quarantine')) }}
{%- endmacro %}

{% macro create_quality_tables() -%}
    {%- if execute -%}
        {%- do run_query('create schema if not exists ' ~ quality_schema()) -%}
        {%- do run_query('create table if not exists ' ~ quarantine_relation() ~ ' (
            source varchar not null,
            table_name varchar not null,
            row_key varchar not null,
            row_id varchar not null,
            load_id varchar not null,
            expectation varchar not null,
            reason varchar not null,
            severity varchar not null,
            column_name varchar,
            offending_value varchar,
            first_seen_at timestamp with time zone not null,
            last_seen_at timestamp with time zone not null,
            released_at timestamp with time zone,
            released_by varchar,
            release_note varchar
        )') -%}
    {%- endif -%}
    select 1
{%- endmacro %}

{#-
  A filter for staging models: the raw row (named by its dlt row id) has no unreleased
  quarantine entry. Raw keeps every row; only the clean zone leaves them out.
-#}
{% macro not_quarantined(source_name, table_name, row_id='_dlt_id') -%}
    {{ row_id }} not in (
        select quarantined.row_id
        from {{ quarantine_relation() }} as quarantined
        where quarantined.source = '{{ source_name }}'
          and quarantined.table_name = '{{ table_name }}'
          and quarantined.released_at is null
    )
{%- endmacro %}

{#- A filter for rows that belong to a record held in quarantine elsewhere (order lines of a quarantined order). -#}
{% macro parent_not_quarantined(source_name, table_name, key) -%}
    {{ key }} not in (
        select quarantined.row_key
        from {{ quarantine_relation() }} as quarantined
        where quarantined.source = '{{ source_name }}'
          and quarantined.table_name = '{{ table_name }}'
          and quarantined.released_at is null
    )
{%- endmacro %}
