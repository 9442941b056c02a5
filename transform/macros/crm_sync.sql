{#-
  The two-way CRM sync's records that staging reads, written by activations/crm/sync.py
  `reconcile` after each pull with the origin of each change (`crm`: made in the CRM;
  `platform`: the platform's own push coming back): `contact_edits` (each contact
  modification) and `contact_field_history` (each value a synced property took). dbt creates
  them too, so staging builds before any reconcile has run; tests/activations/test_crm_sync.py
  keeps the two definitions in step.
-#}
{% macro crm_sync_schema() -%}
    {{ return(var('crm_sync_schema', 'crm_sync')) }}
{%- endmacro %}

{% macro crm_contact_edits_relation() -%}
    {{ return(api.Relation.create(schema=crm_sync_schema(), identifier='contact_edits')) }}
{%- endmacro %}

{% macro crm_field_history_relation() -%}
    {{ return(api.Relation.create(schema=crm_sync_schema(), identifier='contact_field_history')) }}
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
        {%- do run_query('create table if not exists ' ~ crm_field_history_relation() ~ ' (
            contact_id varchar not null,
            field varchar not null,
            value varchar,
            changed_at timestamp with time zone not null,
            origin varchar not null,
            recorded_at timestamp with time zone not null
        )') -%}
    {%- endif -%}
    select 1
{%- endmacro %}
