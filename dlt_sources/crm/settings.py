"""Endpoints and properties the CRM source reads (HubSpot's CRM API and the local server alike)."""

SEARCH_PATH = "crm/v3/objects/{object_type}/search"
LIST_PATH = "crm/v3/objects/{object_type}"
LIST_PAGE_SIZE = 100  # HubSpot's maximum for a list
OWNERS_PATH = "crm/v3/owners"
OWNERS_PAGE_SIZE = 100
ASSOCIATIONS_PATH = "crm/v4/objects/{from_type}/{object_id}/associations/{to_type}"
ASSOCIATIONS_PAGE_SIZE = 500  # HubSpot's maximum for one object's associations
# HubSpot pages a search at most this far; the paginator restarts the search beyond it.
SEARCH_RESULT_CEILING = 10_000
SEARCH_PAGE_SIZE = 200  # HubSpot's maximum for search
CURSOR_PROPERTY = "lastmodifieddate"
INITIAL_MODIFIED_AFTER = "1970-01-01T00:00:00.000Z"

CONTACT_PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "jobtitle",
    "city",
    "state",
    "zip",
    "country",
    "lifecyclestage",
    "hubspot_owner_id",
    "hs_email_optout",
    "associatedcompanyid",
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
]
COMPANY_PROPERTIES = [
    "name",
    "domain",
    "industry",
    "city",
    "country",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
]
DEAL_PROPERTIES = [
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "closedate",
    "hubspot_owner_id",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
]
# Objects read through the search endpoint by modification date.
OBJECTS = {"contacts": CONTACT_PROPERTIES, "companies": COMPANY_PROPERTIES, "deals": DEAL_PROPERTIES}
# HubSpot names the modification-date property differently per object type.
CURSOR_PROPERTIES = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate"}
# What is kept of an archived (deleted) contact: enough to know who it was.
ARCHIVED_CONTACT_PROPERTIES = ["email", "firstname", "lastname", "createdate", "lastmodifieddate", "hs_object_id"]
# Every resource of the source, in load order; `deal_contacts` reads the deals of the same run.
RESOURCES = ("contacts", "companies", "deals", "deal_contacts", "owners", "archived_contacts")
