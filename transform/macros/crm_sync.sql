{#-
  The two-way CRM sync's record of contact modifications (written by activations/crm/sync.py
  `reconcile` after each pull, with the origin of each: `crm` for an edit made in the CRM,
  `platform` for the platform's own push coming back). dbt creates the table too, so staging
  builds before any reconcile has run; tests/activations/test_crm_sync.py keeps the two
  definitions in step.
-#}
{% macro crm_sync_schema() -%}
    {{ return(var('crm_sync_schema', 'crm_sync')) }}
{%- endmacro %}

{% macro crm_contact_edits_relation() -%}
    {{ return(api.Relation.create(schema=crm_sync_schema(), identifier='contact_edits')) }}
{%- endmacro %}

{% macro create_crm_sync_tables() -%}
    {%- if execute -%}
        {%- do run_query('create schema if not exists ' ~ crm_sync_schema()) -%}
        {%- do run_query('create table if not exists ' ~ crm_contact_edits_relation() ~ ' (
            contact_id varchar not null,
            modified_at timestamp with time zone not null,
            origin varchar not null,
            recorded_at timestamp with time zone not null,
            primary key (contact_id, modified_at)
        )') -%}
    {%- endif -%}
    select 1
{%- endmacro %}
