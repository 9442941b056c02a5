"""A small warehouse of three people for the privacy tests, with the real tables' names and the
columns the governance code reads (identity, a few staging models, profiles, consent, activation
and CRM sync). Support tickets, lists, audiences and snapshots are left out on purpose: a
warehouse where those stages never ran.

- Ana: `cus_ana`, and `cus_ana_old`, merged into it. Email, phone, user id, CRM contact 501; two
  events (one with a product), one order with two lines, one CRM contact, one email event; consent
  email granted by the email event, ads denied by an event; a sent and a failed ledger row; a CRM
  merge suggestion pairing her contact 501 with Bob's contact 502.
- Bob: `cus_bob`, email and CRM contact 502; one order, one event, a ledger row.
- Both have the shared device `dev-shared` (an identifier of two people).
"""

from __future__ import annotations

from pathlib import Path

from activations import runner
from activations.crm import sync as crm_sync
from activations.engine import DDL as ENGINE_DDL
from expectations.warehouse import DuckDBWarehouse

ANA_EMAIL = "ana@example.com"
BOB_EMAIL = "bob.other@example.net"

STATEMENTS = (
    "create schema identity",
    "create schema staging",
    "create schema profiles",
    """create table identity.identity_customers as select * from (values
        ('cus_ana', 'active', null, timestamptz '2026-01-01 00:00:00+00'),
        ('cus_ana_old', 'merged', 'cus_ana', timestamptz '2025-06-01 00:00:00+00'),
        ('cus_bob', 'active', null, timestamptz '2026-01-02 00:00:00+00')
    ) as t(customer_id, status, merged_into_customer_id, issued_at)""",
    """create table identity.customer_id_lookup as select * from (values
        ('cus_ana', 'cus_ana', 0), ('cus_ana_old', 'cus_ana', 1), ('cus_bob', 'cus_bob', 0)
    ) as t(customer_id, current_customer_id, merge_hops)""",
    f"""create table identity.customer_identifiers as select * from (values
        ('email', '{ANA_EMAIL}', 'cus_ana'),
        ('phone', '+14155550134', 'cus_ana'),
        ('user_id', 'u_ana', 'cus_ana_old'),
        ('crm_contact_id', '501', 'cus_ana'),
        ('device_id', 'dev-shared', 'cus_ana'),
        ('email', '{BOB_EMAIL}', 'cus_bob'),
        ('crm_contact_id', '502', 'cus_bob'),
        ('device_id', 'dev-shared', 'cus_bob')
    ) as t(identifier_type, identifier_value, customer_id)""",
    """create table identity.customer_records as select * from (values
        ('events', 'events', 'e1', 'cus_ana'), ('events', 'events', 'e2', 'cus_ana'),
        ('commerce', 'orders', 'o1', 'cus_ana'), ('crm', 'contacts', '501', 'cus_ana'),
        ('email', 'email_events', 'm1', 'cus_ana'),
        ('events', 'events', 'e3', 'cus_bob'), ('commerce', 'orders', 'o2', 'cus_bob'),
        ('crm', 'contacts', '502', 'cus_bob')
    ) as t(source_name, table_name, record_key, customer_id)""",
    f"""create view staging.stg_events__events as select * from (values
        ('e1', 'page', '{ANA_EMAIL}', timestamptz '2026-02-01 10:00:00+00', cast(null as decimal(18, 4)), false),
        ('e2', 'track', '{ANA_EMAIL}', timestamptz '2026-02-02 11:30:00.250+00', cast(19.5 as decimal(18, 4)), null),
        ('e3', 'page', '{BOB_EMAIL}', timestamptz '2026-02-03 09:00:00+00', null, true)
    ) as t(event_key, event_type, email, occurred_at, revenue, consent_advertising)""",
    """create table staging.stg_events__order_products as select * from (values
        ('e2-1', 'e2', 'p1', 'Tent'), ('e3-1', 'e3', 'p2', 'Stove')
    ) as t(order_product_key, event_key, product_id, product_name)""",
    f"""create table staging.stg_commerce__orders as select * from (values
        ('o1', '{ANA_EMAIL}', cast(121.88 as decimal(18, 4)), timestamptz '2026-02-02 11:31:00+00', date '2026-02-03'),
        ('o2', '{BOB_EMAIL}', cast(5 as decimal(18, 4)), timestamptz '2026-02-04 08:00:00+00', null)
    ) as t(order_id, email, total_amount, ordered_at, shipped_on)""",
    """create table staging.stg_commerce__order_lines as select * from (values
        ('o1-1', 'o1', 'Tent', cast(100 as decimal(18, 4))), ('o1-2', 'o1', 'Pot', cast(21.88 as decimal(18, 4))),
        ('o2-1', 'o2', 'Stove', cast(5 as decimal(18, 4)))
    ) as t(order_line_id, order_id, product_name, line_amount)""",
    f"""create table staging.stg_crm__contacts as select * from (values
        ('501', '{ANA_EMAIL}', 'Ana'), ('502', '{BOB_EMAIL}', 'Bob')
    ) as t(contact_id, email, first_name)""",
    f"""create table staging.stg_email__email_events as select * from (values
        ('m1', 'subscribed', '{ANA_EMAIL}', timestamptz '2026-01-15 08:00:00+00')
    ) as t(email_event_key, event_type, email, occurred_at)""",
    f"""create table profiles.customer_profiles as select * from (values
        ('cus_ana', 'Ana', '{ANA_EMAIL}', 1), ('cus_bob', 'Bob', '{BOB_EMAIL}', 1)
    ) as t(customer_id, first_name, email, orders_count)""",
    """create table profiles.customer_traits as select * from (values
        ('cus_ana', 1, 'champions'), ('cus_bob', 1, 'new')
    ) as t(customer_id, orders_count, rfm_segment)""",
    """create table profiles.customer_consent as select * from (values
        ('cus_ana', 'ads', false, 'denied', 'events/events', 'opt_out', timestamptz '2026-02-01 10:00:00+00',
         'events/events/e1'),
        ('cus_ana', 'email', true, 'granted', 'email/email_events', 'opt_in', timestamptz '2026-01-15 08:00:00+00',
         'email/email_events/m1'),
        ('cus_ana', 'sms', null, 'unknown', null, null, null, null),
        ('cus_bob', 'ads', true, 'granted', 'events/events', 'opt_in', timestamptz '2026-02-03 09:00:00+00',
         'events/events/e3')
    ) as t(customer_id, channel, granted, status, signal_source, signal_type, signal_at, signal_record_ref)""",
    """create table profiles.customer_consent_history as select * from (values
        ('cus_ana', 'events/events/e1', 'events/events', 'ads', 'opt_out', false,
         timestamptz '2026-02-01 10:00:00+00'),
        ('cus_ana', 'email/email_events/m1', 'email/email_events', 'email', 'opt_in', true,
         timestamptz '2026-01-15 08:00:00+00'),
        ('cus_bob', 'events/events/e3', 'events/events', 'ads', 'opt_in', true, timestamptz '2026-02-03 09:00:00+00')
    ) as t(customer_id, record_ref, source, channel, signal_type, granted, signal_at)""",
)

ACTIVATION_ROWS = (
    """insert into activation.activation_ledger values
        ('run-1', 'email_platform', 'rfm_champions', 'cus_ana', 'add', 'h1', 'b1', 'sent', 1, null, null,
         timestamptz '2026-02-05 06:00:00+00', null),
        ('run-1', 'ad_platform', 'rfm_champions', 'cus_ana', 'add', 'h2', 'b2', 'failed', 1, 'HTTP 503', null,
         timestamptz '2026-02-05 06:00:01+00', null),
        ('run-1', 'email_platform', 'new_subscribers', 'cus_bob', 'add', 'h3', 'b3', 'sent', 1, null, null,
         timestamptz '2026-02-05 06:00:00+00', null)""",
    f"""insert into activation.destination_state values
        ('email_platform', 'rfm_champions', 'cus_ana', 'h1', '{{"email": "{ANA_EMAIL}"}}',
         timestamptz '2026-02-05 06:00:00+00', 'run-1'),
        ('email_platform', 'new_subscribers', 'cus_bob', 'h3', '{{"email": "{BOB_EMAIL}"}}',
         timestamptz '2026-02-05 06:00:00+00', 'run-1')""",
    """insert into activation.audience_members values
        ('rfm_champions', 'cus_ana', timestamptz '2026-02-05 05:59:00+00', 'run-1'),
        ('new_subscribers', 'cus_bob', timestamptz '2026-02-05 05:59:00+00', 'run-1')""",
    """insert into activation.audience_membership_changes values
        ('rfm_champions', 'cus_ana', 'entered', 'run-1', timestamptz '2026-02-05 05:59:00+00', 'first traits'),
        ('new_subscribers', 'cus_bob', 'entered', 'run-1', timestamptz '2026-02-05 05:59:00+00', 'first traits')""",
    """insert into crm_sync.contact_edits values
        ('501', timestamptz '2026-01-10 00:00:00+00', 'crm', timestamptz '2026-02-05 00:00:00+00'),
        ('502', timestamptz '2026-01-11 00:00:00+00', 'crm', timestamptz '2026-02-05 00:00:00+00')""",
    """create table crm_sync.crm_merge_suggestions as select * from (values
        ('502', '501', 'cus_bob', 'cus_ana', 'deterministic:phone', 2, 1.0)
    ) as t(merge_contact_id, keep_contact_id, merge_customer_id, keep_customer_id, evidence, links,
           match_probability)""",
)


def build(path: Path) -> Path:
    """Writes the warehouse at `path` and returns it."""
    with DuckDBWarehouse(path) as warehouse:
        for statement in STATEMENTS:
            warehouse.execute(statement)
        runner.ensure_tables(warehouse)
        for statement in ENGINE_DDL:
            warehouse.execute(statement)
        crm_sync.ensure_tables(warehouse)
        for statement in ACTIVATION_ROWS:
            warehouse.execute(statement)
    return path
