{#-
  Connected components of the identity graph, in SQL, on DuckDB and PostgreSQL alike.

  Input: a relation with columns `node_a` and `node_b` (bigint): undirected edges. Duplicates
  and both directions are fine; a self-loop `(a, a)` declares a node without links; a row with
  one null end declares the other end alone; a row with two nulls is ignored.
  Output: a table (node_id bigint, component_id bigint), one row per node, where component_id
  is the smallest node_id in the node's component.

  The algorithm: hooking + pointer jumping on a contracted graph
  --------------------------------------------------------------
  Every node starts with its own id as label. Instead of keeping the node -> label map up to
  date on every pass, the engine works on the graph *between labels*: the edge table `E` holds
  (label, neighbouring label) pairs, both directions, without self-loops (on the first pass, the
  input links themselves). Per pass:

    1. hooking: every label l takes p(l) = the smallest label among the neighbours of all the
       nodes carrying l, i.e. min(b) over the rows (l, b) of E. Only labels with a smaller
       neighbour hook (p(l) < l); the others are roots. Since p(l) < l, the hooks form a forest
       (no cycles) whose roots are labels no neighbour undercuts.
    2. pointer jumping: p(l) := p(p(l)) until no parent has a parent of its own. Each jump
       halves the depth of every tree, so a tree of depth d flattens in ceil(log2 d) jumps:
       a sorted 1,024-node chain, where each node hooks to its predecessor, collapses onto
       its first node in one pass of 10 jumps instead of 1,023 label-propagation passes.
       Labels whose parent is a root drop out of the jumping as soon as that is known (see
       connected_components_flatten), so the long tail of jumps only touches deep trees.
    3. contraction: every edge (a, b) becomes (root(a), root(b)); edges inside one tree vanish,
       duplicates are removed. The hooks of the pass (label -> root of that pass) are kept:
       their union over all passes is the forest `F`. A hooked label never appears in E again,
       so each label hooks at most once.

  Stop when E is empty: no label has a neighbour with another label, i.e. no label would change
  on another pass. Then every node is resolved through F (pointer jumping again; F is at most
  `passes` levels deep, so this takes about log2(passes) jumps).

  Why it converges, and fast: in every component with two or more labels at least one label
  (its largest) hooks, so the number of labels strictly falls and the loop ends. In practice it
  falls geometrically: every surviving root is a local minimum of the contracted graph. On a
  path the local minima are never adjacent, so at least half the labels disappear per pass,
  whatever the numbering: a path of n nodes takes at most ceil(log2 n) passes (1 when it is
  numbered in order). Stars take 1 or 2 passes, random graphs a handful. Plain min-label
  propagation instead needs as many passes as the component's diameter.

  Why component_id is the smallest node id: labels are node ids and only ever move to a smaller
  label, so the smallest node m of a component is never hooked and stays a root; at convergence
  the component has one label, which can only be m.

  Every step is a plain `create table ... as select` (group by, left join, union, distinct), so
  the same SQL runs on both warehouses; the two differ only in how work tables are created and
  whether statistics are refreshed (see the dispatched macros below). All statements run in one
  transaction (the caller's, or one opened by the first statement): on an error dbt rolls it
  back, and every work table with it.
-#}

{#-
  connected_components(edges_relation, output_relation, max_passes=64) -> dict

  edges_relation: a relation (or a quoted, fully qualified name) with node_a and node_b.
  output_relation: a dbt Relation; the table is replaced. Work tables go in its schema.
  Returns {passes, pointer_jumps, nodes, edges, components, largest_component}:
  passes = hooking passes run, pointer_jumps = jump statements run (within the passes and in the
  final resolution), nodes = distinct nodes, edges = edge rows read (duplicates and self-loops
  included), components, largest_component = nodes in the largest component.
-#}
{% macro connected_components(edges_relation, output_relation, max_passes=64) -%}
    {%- if not execute -%}
        {{ return({}) }}
    {%- endif -%}
    {%- if output_relation.schema is none or output_relation.identifier is none -%}
        {%- do exceptions.raise_compiler_error(
            'connected_components: output_relation must be a relation with a schema and an identifier, got ' ~ output_relation) -%}
    {%- endif -%}
    {%- set max_passes = max_passes | int -%}
    {%- if max_passes < 1 -%}
        {%- do exceptions.raise_compiler_error('connected_components: max_passes must be at least 1, got ' ~ max_passes) -%}
    {%- endif -%}

    {#- Work tables: in the output's schema, named cc_<output hash>_<run hash>_<role>, short
        enough for PostgreSQL's 63-character identifiers and unique per output and invocation. -#}
    {%- set work_prefix = 'cc_' ~ local_md5(output_relation | string)[:8] ~ '_'
        ~ local_md5((invocation_id or '') ~ modules.datetime.datetime.now().isoformat())[:6] ~ '_' -%}
    {%- set work = [] -%}
    {%- set bigint = dbt.type_bigint() -%}

    {#- The links of the first pass, both directions, straight from the input: hooking only
        needs a min per label, so duplicates are harmless, and the first contraction removes
        them. (Reading the input twice is cheaper than writing a deduplicated copy of it.) -#}
    {%- set links = "
        select cast(node_a as " ~ bigint ~ ") as node_a, cast(node_b as " ~ bigint ~ ") as node_b
        from " ~ edges_relation ~ "
        where node_a is not null and node_b is not null and node_a <> node_b" -%}
    {%- set first_edges = "(" ~ links ~ "
        union all
        select node_b, node_a from (" ~ links ~ ") as reversed)" -%}
    {#- The hooks of every pass, flattened, are kept until the end: their union is the forest F.
        (Built with `create table as`, not by appending each pass: with DuckDB 2.0.0, a table
        created empty by `create table as` and appended to twice in one transaction, the first
        batch large, reads back empty until the commit.) -#}
    {%- set pass_hooks = [] -%}
    {%- set state = {'edges': first_edges, 'edges_table': false, 'passes': 0, 'jumps': 0, 'remaining': 0,
                     'converged': cc_scalar('select count(*) from (' ~ links ~ ') as links') == 0} -%}
    {%- for pass in range(1, max_passes + 1) -%}
        {%- if state.converged -%}{%- break -%}{%- endif -%}

        {#- 1. hooking: each label takes the smallest neighbouring label, when it is smaller. -#}
        {%- set hooks = connected_components_work_relation(output_relation, work_prefix ~ 'p' ~ pass, work) -%}
        {%- do cc_create_work_table(hooks, "
            select node_a as label, min(node_b) as parent
            from " ~ state.edges ~ " as e
            group by node_a
            having min(node_b) < node_a") -%}

        {#- 2. pointer jumping until every parent is a root. -#}
        {%- set roots = connected_components_flatten(hooks, output_relation, work_prefix ~ 'p' ~ pass ~ '_', work, state) -%}
        {%- do pass_hooks.append(roots) -%}

        {#- 3. contract the edges onto the roots. -#}
        {%- set contracted = connected_components_work_relation(output_relation, work_prefix ~ 'e' ~ pass, work) -%}
        {%- do cc_create_work_table(contracted, "
            select distinct coalesce(hook_a.parent, e.node_a) as node_a, coalesce(hook_b.parent, e.node_b) as node_b
            from " ~ state.edges ~ " as e
            left join " ~ roots ~ " as hook_a on hook_a.label = e.node_a
            left join " ~ roots ~ " as hook_b on hook_b.label = e.node_b
            where coalesce(hook_a.parent, e.node_a) <> coalesce(hook_b.parent, e.node_b)") -%}
        {%- if state.edges_table -%}
            {%- do cc_drop_work_table(state.edges, work) -%}
        {%- endif -%}
        {%- set remaining = cc_scalar('select count(*) from ' ~ contracted) -%}
        {%- do state.update({'edges': contracted, 'edges_table': true, 'passes': pass, 'remaining': remaining,
                             'converged': remaining == 0}) -%}
        {%- do log('connected_components ' ~ output_relation ~ ': pass ' ~ pass ~ ', '
            ~ remaining ~ ' label edges left, ' ~ state.jumps ~ ' pointer jumps so far', info=False) -%}
    {%- endfor -%}

    {%- if not state.converged -%}
        {%- for relation in work | list -%}
            {%- do cc_drop_work_table(relation, work) -%}
        {%- endfor -%}
        {%- do exceptions.raise_compiler_error(
            'connected_components: no convergence after max_passes=' ~ max_passes ~ ' passes building '
            ~ output_relation ~ ': labels were still changing (' ~ state.remaining ~ ' label edges left). '
            ~ 'Raise max_passes (the max_passes config of a connected_components model); a component '
            ~ 'of n nodes usually needs about log2(n) passes, a path at most ceil(log2 n).') -%}
    {%- endif -%}

    {#- F (label -> root of the pass that hooked it; each label hooks at most once), resolved to
        final roots. With no pass at all F is an empty, typed table. -#}
    {%- set forest = connected_components_work_relation(output_relation, work_prefix ~ 'f', work) -%}
    {%- set forest_sql = [] -%}
    {%- for roots in pass_hooks -%}
        {%- do forest_sql.append('select label, parent from ' ~ roots ~ ' as pass_roots') -%}
    {%- endfor -%}
    {%- if not forest_sql -%}
        {%- do forest_sql.append('select cast(null as ' ~ bigint ~ ') as label, cast(null as ' ~ bigint ~ ') as parent where 1 = 0') -%}
    {%- endif -%}
    {%- set keep = [forest] -%}
    {%- do cc_create_work_table(forest, forest_sql | join(' union all ')) -%}
    {%- for relation in work | list -%}
        {%- if relation not in keep -%}
            {%- do cc_drop_work_table(relation, work) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set forest = connected_components_flatten(forest, output_relation, work_prefix ~ 'f_', work, state) -%}

    {#- The output: every node, with its root; a node that never hooked is its own root. -#}
    {%- set existing = adapter.get_relation(database=output_relation.database, schema=output_relation.schema,
                                            identifier=output_relation.identifier) -%}
    {%- if existing is not none -%}
        {%- do adapter.drop_relation(existing) -%}
    {%- endif -%}
    {%- do cc_run("
        create table " ~ output_relation ~ " as
        select nodes.node_id, cast(coalesce(forest.parent, nodes.node_id) as " ~ bigint ~ ") as component_id
        from (
            select cast(node_a as " ~ bigint ~ ") as node_id from " ~ edges_relation ~ " where node_a is not null
            union
            select cast(node_b as " ~ bigint ~ ") as node_id from " ~ edges_relation ~ " where node_b is not null
        ) as nodes
        left join " ~ forest ~ " as forest on forest.label = nodes.node_id") -%}
    {%- for relation in work | list -%}
        {%- do cc_drop_work_table(relation, work) -%}
    {%- endfor -%}

    {%- set totals = cc_run("
        select
            (select count(*) from " ~ output_relation ~ ") as nodes,
            (select count(*) from " ~ edges_relation ~ ") as edges,
            (select count(*) from " ~ output_relation ~ " where node_id = component_id) as components,
            (select coalesce(max(size), 0) from (
                select count(*) as size from " ~ output_relation ~ " group by component_id
            ) as sizes) as largest_component") -%}
    {%- set row = totals.rows[0] -%}
    {{ return({
        'passes': state.passes,
        'pointer_jumps': state.jumps,
        'nodes': row[0] | int,
        'edges': row[1] | int,
        'components': row[2] | int,
        'largest_component': row[3] | int,
    }) }}
{%- endmacro %}

{#-
  Pointer jumping on a parent map (label, parent), parent < label, roots absent: every parent is
  replaced by its parent's parent until it is a root. Returns a subquery (label, parent = root)
  over work tables that stay until the caller drops them; counts jumps in state.jumps.

  Only unresolved rows take part after the first round. Each round writes step table k with
  every active row and a flag: a row whose parent is a root, or resolved in an earlier round,
  is resolved now (its parent becomes that root); a row whose parent is still active takes the
  parent's current parent (the jump: the distance to the pointer doubles) and stays active.
  Most trees are shallow, so after two or three rounds only the rows of the deep ones are left
  and a round costs a scan of the resolved rows, not a rewrite of the whole map.
-#}
{% macro connected_components_flatten(parents, output_relation, prefix, work, state) -%}
    {%- set resolved = [] -%}
    {%- set current = {'active': parents, 'flat': false} -%}
    {#- A tree of depth d is flat after ceil(log2 d) jumps; 64 covers any depth. -#}
    {%- for round in range(1, 66) -%}
        {%- set step = connected_components_work_relation(output_relation, prefix ~ round, work) -%}
        {%- if resolved -%}
            {%- set done_join = 'left join (' ~ (resolved | join(' union all ')) ~ ') as done on done.label = a.parent' -%}
            {%- set done_parent = 'done.parent, ' -%}
        {%- else -%}
            {%- set done_join = '' -%}
            {%- set done_parent = '' -%}
        {%- endif -%}
        {%- do cc_create_work_table(step, "
            select a.label,
                   coalesce(" ~ done_parent ~ "next.parent, a.parent) as parent,
                   case when next.label is null then 0 else 1 end as active
            from " ~ current.active ~ " as a
            " ~ done_join ~ "
            left join " ~ current.active ~ " as next on next.label = a.parent") -%}
        {%- do cc_drop_work_table(current.active, work) -%}
        {%- do resolved.append('select label, parent from ' ~ step ~ ' where active = 0') -%}
        {%- set still_active = cc_scalar('select count(*) from ' ~ step ~ ' where active = 1') -%}
        {%- if still_active == 0 -%}
            {%- do current.update({'flat': true}) -%}
            {%- break -%}
        {%- endif -%}
        {%- do state.update({'jumps': state.jumps + 1}) -%}
        {%- set active = connected_components_work_relation(output_relation, prefix ~ round ~ 'a', work) -%}
        {%- do cc_create_work_table(active, 'select label, parent from ' ~ step ~ ' where active = 1') -%}
        {%- do current.update({'active': active}) -%}
    {%- endfor -%}
    {%- if not current.flat -%}
        {%- do exceptions.raise_compiler_error('connected_components: pointer jumping did not finish on ' ~ parents
            ~ ' (a cycle in the parent map: a bug, since parents are always smaller than labels)') -%}
    {%- endif -%}
    {{ return('(' ~ (resolved | join(' union all ')) ~ ')') }}
{%- endmacro %}

{% macro connected_components_work_relation(output_relation, identifier, work) -%}
    {%- set relation = api.Relation.create(database=output_relation.database, schema=output_relation.schema,
                                           identifier=identifier, type='table') -%}
    {%- do work.append(relation) -%}
    {{ return(relation) }}
{%- endmacro %}

{#-
  Every statement of the engine and the run log goes through here: like run_query, but it opens
  a transaction when none is open (run_query does not), so the whole build is one transaction
  on both warehouses whoever calls it, and a failure rolls back every work table with it.
-#}
{% macro cc_run(sql) -%}
    {%- call statement('connected_components', fetch_result=True, auto_begin=True) -%}
        {{ sql }}
    {%- endcall -%}
    {{ return(load_result('connected_components').table) }}
{%- endmacro %}

{#- A single number from a query, as an int (agate hands numbers back as Decimal). -#}
{% macro cc_scalar(sql) -%}
    {{ return(cc_run(sql).columns[0].values()[0] | int) }}
{%- endmacro %}

{% macro cc_drop_work_table(relation, work) -%}
    {%- do cc_run('drop table if exists ' ~ relation) -%}
    {%- if relation in work -%}
        {%- do work.remove(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- Work tables: unlogged on PostgreSQL (no WAL for throw-away data), plain tables elsewhere. -#}
{% macro cc_create_work_table(relation, sql) -%}
    {%- do adapter.dispatch('cc_create_work_table', 'opencdp')(relation, sql) -%}
    {%- do cc_analyze(relation) -%}
{%- endmacro %}

{% macro default__cc_create_work_table(relation, sql) -%}
    {%- do cc_run('create table ' ~ relation ~ ' as ' ~ sql) -%}
{%- endmacro %}

{% macro postgres__cc_create_work_table(relation, sql) -%}
    {%- do cc_run('create unlogged table ' ~ relation ~ ' as ' ~ sql) -%}
{%- endmacro %}

{#- Fresh statistics, so PostgreSQL plans hash joins from real row counts; DuckDB needs none. -#}
{% macro cc_analyze(relation) -%}
    {%- do adapter.dispatch('cc_analyze', 'opencdp')(relation) -%}
{%- endmacro %}

{% macro default__cc_analyze(relation) -%}
{%- endmacro %}

{% macro postgres__cc_analyze(relation) -%}
    {%- do cc_run('analyze ' ~ relation) -%}
{%- endmacro %}

{#-
  dbt run-operation run_connected_components --args '{edges_table: links, output_table: components, schema: identity}'

  Runs the engine on <schema>.<edges_table> into <schema>.<output_table>, commits, and logs the
  statistics as one JSON line: `connected_components {"passes": ..., ...}`.
-#}
{% macro run_connected_components(edges_table, output_table, schema=none, max_passes=64) -%}
    {%- set schema = schema or target.schema -%}
    {%- set edges = adapter.get_relation(database=target.database, schema=schema, identifier=edges_table) -%}
    {%- if edges is none -%}
        {%- do exceptions.raise_compiler_error('run_connected_components: edges table ' ~ schema ~ '.' ~ edges_table ~ ' not found') -%}
    {%- endif -%}
    {%- set output = api.Relation.create(database=target.database, schema=schema, identifier=output_table, type='table') -%}
    {%- set stats = connected_components(edges, output, max_passes=max_passes) -%}
    {%- do adapter.commit() -%}
    {%- do log('connected_components ' ~ tojson(stats), info=True) -%}
    {{ return(stats) }}
{%- endmacro %}

{#-
  {{ config(materialized='connected_components') }}
  select node_a, node_b from {{ ref('identity_links') }}

  The model's query gives the edges; the model's table gets (node_id, component_id). Optional
  config: max_passes (default 64). The model SQL is staged in a temporary table, the engine
  builds the result under the intermediate name (<model>__dbt_tmp) and the table is swapped in
  like dbt's own table materialization (old table renamed to a backup, new one renamed into
  place, backup dropped after the commit), so readers never see a half-built table. Each run
  appends a row to <model schema>.connected_components_runs.
-#}
{% materialization connected_components, default %}
    {%- set started_at = modules.datetime.datetime.now(modules.pytz.utc) -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
    {%- set preexisting_intermediate_relation = load_cached_relation(intermediate_relation) -%}
    {%- set backup_relation_type = 'table' if existing_relation is none else existing_relation.type -%}
    {%- set backup_relation = make_backup_relation(target_relation, backup_relation_type) -%}
    {%- set preexisting_backup_relation = load_cached_relation(backup_relation) -%}
    {%- set staged_relation = make_temp_relation(target_relation, '__cc_edges') -%}
    {%- set grant_config = config.get('grants') -%}
    {%- set contract_config = config.get('contract') -%}
    {%- if contract_config and contract_config.enforced -%}
        {%- do exceptions.raise_compiler_error(
            'connected_components models cannot enforce a contract: the model query returns edges '
            ~ '(node_a, node_b) while the table holds (node_id, component_id); use data tests instead.') -%}
    {%- endif -%}

    {{ drop_relation_if_exists(preexisting_intermediate_relation) }}
    {{ drop_relation_if_exists(preexisting_backup_relation) }}

    -- the run log, created (if missing) and committed on its own: kept out of the long
    -- transaction so that two such models building side by side do not race to create it
    {%- set log_relation = connected_components_log_relation(target_relation) -%}
    {%- do connected_components_create_log(log_relation) -%}
    {%- do adapter.commit() -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    -- `BEGIN` happens here:
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    -- stage the edges (the model's query) once, so the engine reads a table, not the query twice
    {% call statement('main') -%}
        {{ get_create_table_as_sql(True, staged_relation, compiled_code) }}
    {%- endcall %}

    {%- set stats = connected_components(staged_relation, intermediate_relation, max_passes=config.get('max_passes', 64)) -%}
    {% call statement('drop_staged_edges') -%}
        drop table if exists {{ staged_relation }}
    {%- endcall %}

    -- swap the new table in
    {% if existing_relation is not none %}
        {% set existing_relation = load_cached_relation(existing_relation) %}
        {% if existing_relation is not none %}
            {{ adapter.rename_relation(existing_relation, backup_relation) }}
        {% endif %}
    {% endif %}
    {{ adapter.rename_relation(intermediate_relation, target_relation) }}

    {%- do connected_components_log_run(log_relation, target_relation, stats, started_at) -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}

    {% set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
    {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
    {% do persist_docs(target_relation, model) %}

    -- `COMMIT` happens here
    {{ adapter.commit() }}

    {{ drop_relation_if_exists(backup_relation) }}

    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{#- The run log of connected_components models: one row per build, in the model's schema. -#}
{% macro connected_components_log_relation(relation) -%}
    {{ return(api.Relation.create(database=relation.database, schema=relation.schema,
                                  identifier='connected_components_runs', type='table')) }}
{%- endmacro %}

{% macro connected_components_create_log(log_relation) -%}
    {%- set text = dbt.type_string() -%}
    {%- set bigint = dbt.type_bigint() -%}
    {%- do cc_run('create table if not exists ' ~ log_relation ~ ' (
            model_name ' ~ text ~ ' not null,
            invocation_id ' ~ text ~ ',
            passes ' ~ bigint ~ ' not null,
            pointer_jumps ' ~ bigint ~ ' not null,
            nodes ' ~ bigint ~ ' not null,
            edges ' ~ bigint ~ ' not null,
            components ' ~ bigint ~ ' not null,
            largest_component ' ~ bigint ~ ' not null,
            started_at timestamp with time zone not null,
            finished_at timestamp with time zone not null
        )') -%}
{%- endmacro %}

{% macro connected_components_log_run(log_relation, relation, stats, started_at) -%}
    {%- set finished_at = modules.datetime.datetime.now(modules.pytz.utc) -%}
    {%- do cc_run('insert into ' ~ log_relation ~ ' (model_name, invocation_id, passes, pointer_jumps, nodes, edges,
            components, largest_component, started_at, finished_at) values ('
        ~ dbt.string_literal(relation.identifier) ~ ', '
        ~ (dbt.string_literal(invocation_id) if invocation_id else 'null') ~ ', '
        ~ stats.passes ~ ', ' ~ stats.pointer_jumps ~ ', ' ~ stats.nodes ~ ', ' ~ stats.edges ~ ', '
        ~ stats.components ~ ', ' ~ stats.largest_component ~ ', '
        ~ 'cast(' ~ dbt.string_literal(started_at.isoformat()) ~ ' as timestamp with time zone), '
        ~ 'cast(' ~ dbt.string_literal(finished_at.isoformat()) ~ ' as timestamp with time zone))') -%}
{%- endmacro %}
