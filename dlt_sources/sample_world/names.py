"""Built-in word lists of the sample world (no Faker: fixed lists keep generation fast and stable).

Everything here is invented or generic. Phone area codes and postcode prefixes are real-looking
so that generated numbers and postcodes pass ordinary validation.
"""

from __future__ import annotations

FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony",
    "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily",
    "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Dorothy", "Kevin", "Carol", "Brian",
    "Amanda", "George", "Melissa", "Edward", "Deborah", "Ronald", "Stephanie", "Timothy",
    "Rebecca", "Jason", "Sharon", "Jeffrey", "Laura", "Ryan", "Cynthia", "Jacob", "Kathleen",
    "Gary", "Amy", "Nicholas", "Shirley", "Eric", "Angela", "Jonathan", "Helen", "Stephen",
    "Anna", "Larry", "Brenda", "Justin", "Pamela", "Scott", "Nicole", "Brandon", "Emma",
    "Benjamin", "Samantha", "Samuel", "Katherine", "Gregory", "Christine", "Frank", "Debra",
    "Alexander", "Rachel", "Raymond", "Catherine", "Patrick", "Carolyn", "Jack", "Janet",
    "Dennis", "Ruth", "Jerry", "Maria", "Tyler", "Heather", "Aaron", "Diane", "Jose", "Virginia",
    "Adam", "Julie", "Henry", "Joyce", "Nathan", "Victoria", "Douglas", "Olivia", "Zachary",
    "Kelly", "Peter", "Christina", "Kyle", "Lauren", "Walter", "Joan", "Ethan", "Evelyn",
    "Jeremy", "Judith", "Harold", "Megan", "Keith", "Cheryl", "Christian", "Andrea", "Roger",
    "Hannah", "Noah", "Martha", "Gerald", "Jacqueline", "Carl", "Frances", "Terry", "Gloria",
    "Sean", "Ann", "Austin", "Teresa", "Arthur", "Kathryn", "Lawrence", "Sara", "Jesse", "Janice",
    "Dylan", "Jean", "Bryan", "Alice", "Joe", "Madison", "Jordan", "Doris", "Billy", "Abigail",
    "Bruce", "Julia", "Albert", "Judy", "Willie", "Grace", "Gabriel", "Denise", "Logan", "Amber",
    "Alan", "Marilyn", "Juan", "Beverly", "Wayne", "Danielle", "Roy", "Theresa", "Ralph",
    "Sophia", "Randy", "Marie", "Eugene", "Diana", "Vincent", "Brittany", "Russell", "Natalie",
    "Elijah", "Isabella", "Louis", "Charlotte", "Bobby", "Rose", "Philip", "Alexis", "Johnny",
    "Kayla", "Oliver", "Amelia", "Harry", "Chloe", "Liam", "Isla", "Priya", "Aisha", "Wei",
    "Mei", "Hiroshi", "Yuki", "Carlos", "Sofia", "Mateo", "Lucia", "Omar", "Fatima", "Raj",
    "Anika", "Connor", "Siobhan", "Callum", "Niamh", "Rhys", "Cerys", "Finlay", "Eilidh",
)

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price",
    "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson",
    "Barnes", "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson",
    "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West",
    "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar",
    "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez",
    "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman",
    "Webb", "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter",
    "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz", "Hunt", "Hicks",
    "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd", "Rose", "Stone", "Salazar",
    "Fox", "Warren", "Mills", "Meyer", "Rice", "Schmidt", "Garza", "Daniels", "Ferguson",
    "Nichols", "Stephens", "Soto", "Weaver", "Ryan", "Gardner", "Payne", "Grant", "Dunn",
    "O'Brien", "O'Connor", "MacLeod", "Smith-Jones", "Fraser", "Davies", "Hughes", "Khan",
    "Singh", "Shah", "Wong", "Li", "Zhang", "Wang", "Tanaka", "Sato", "Kowalski", "Novak",
    "Dubois", "Tremblay", "Gagnon", "Roy", "Cote", "Bouchard", "Lavoie", "Fortin", "Gauthier",
)

# Familiar variants used for duplicate CRM contacts ("Bob" for "Robert").
NICKNAMES = {
    "Robert": "Bob", "William": "Bill", "Richard": "Rick", "James": "Jim", "Michael": "Mike",
    "Elizabeth": "Liz", "Jennifer": "Jen", "Christopher": "Chris", "Matthew": "Matt",
    "Anthony": "Tony", "Daniel": "Dan", "Joseph": "Joe", "Thomas": "Tom", "Katherine": "Kate",
    "Margaret": "Maggie", "Patricia": "Pat", "Samantha": "Sam", "Alexander": "Alex",
    "Nicholas": "Nick", "Jonathan": "Jon", "Benjamin": "Ben", "Rebecca": "Becky",
    "Stephanie": "Steph", "Victoria": "Vicky", "Timothy": "Tim", "Steven": "Steve",
    "Andrew": "Andy", "Kimberly": "Kim", "Deborah": "Deb", "Gregory": "Greg", "Jeffrey": "Jeff",
    "Kathleen": "Kathy", "Zachary": "Zach", "Lawrence": "Larry", "Abigail": "Abby",
    "Isabella": "Bella", "Natalie": "Nat", "Christina": "Tina", "Charlotte": "Lottie",
}

STREET_NAMES = (
    "Maple", "Oak", "Pine", "Cedar", "Elm", "Willow", "Birch", "Chestnut", "Walnut", "Spruce",
    "Main", "High", "Church", "Park", "Mill", "Station", "Victoria", "King", "Queen", "Market",
    "Bridge", "River", "Lake", "Hill", "Valley", "Meadow", "Forest", "Spring", "Sunset",
    "Highland", "Washington", "Lincoln", "Jefferson", "Franklin", "Madison", "Jackson",
    "Grove", "Orchard", "Harbor", "Bay", "Ridge", "Fairview", "Greenway", "Kingsway", "Albert",
    "York", "Windsor", "Clarence", "Manor", "Castle", "Abbey", "Chapel", "School", "Union",
    "Prospect", "Summit", "Cherry", "Magnolia", "Dogwood", "Hawthorn", "Heather", "Rosewood",
)
STREET_SUFFIXES = {
    "US": ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Way", "Ct", "Pl", "Ter"),
    "CA": ("St", "Ave", "Rd", "Blvd", "Cres", "Dr", "Way", "Crt", "Pl", "Lane"),
    "GB": ("Road", "Street", "Lane", "Avenue", "Close", "Gardens", "Crescent", "Way", "Terrace", "Drive"),
}

# Postcode patterns: '#' a digit, '@' a letter from the country's postcode alphabet.
POSTCODE_LETTERS = {
    "US": "",
    "GB": "ABDEFGHJLNPQRSTUWXYZ",  # inward-code letters (no C I K M O V)
    "CA": "ABCEGHJKLMNPRSTVWXYZ",  # no D F I O Q U
}

# (city, state or region, area codes, postcode patterns) per country.
CITIES = {
    "US": (
        ("New York", "NY", ("212", "646", "917", "718", "347"), ("100##", "101##", "112##")),
        ("Los Angeles", "CA", ("213", "310", "323", "424", "818"), ("900##", "910##")),
        ("Chicago", "IL", ("312", "773", "872"), ("606##",)),
        ("Houston", "TX", ("713", "832", "281"), ("770##",)),
        ("Phoenix", "AZ", ("602", "480", "623"), ("850##",)),
        ("Philadelphia", "PA", ("215", "267"), ("191##",)),
        ("San Antonio", "TX", ("210",), ("782##",)),
        ("San Diego", "CA", ("619", "858"), ("921##",)),
        ("Dallas", "TX", ("214", "469", "972"), ("752##",)),
        ("Austin", "TX", ("512", "737"), ("787##",)),
        ("San Francisco", "CA", ("415", "628"), ("941##",)),
        ("Seattle", "WA", ("206", "425"), ("981##",)),
        ("Denver", "CO", ("303", "720"), ("802##",)),
        ("Boston", "MA", ("617", "857"), ("021##",)),
        ("Nashville", "TN", ("615", "629"), ("372##",)),
        ("Portland", "OR", ("503", "971"), ("972##",)),
        ("Atlanta", "GA", ("404", "678", "470"), ("303##",)),
        ("Miami", "FL", ("305", "786"), ("331##",)),
        ("Minneapolis", "MN", ("612", "763"), ("554##",)),
        ("Columbus", "OH", ("614", "380"), ("432##",)),
        ("Charlotte", "NC", ("704", "980"), ("282##",)),
        ("Detroit", "MI", ("313",), ("482##",)),
        ("Salt Lake City", "UT", ("801", "385"), ("841##",)),
        ("Raleigh", "NC", ("919", "984"), ("276##",)),
        ("Kansas City", "MO", ("816",), ("641##",)),
        ("Pittsburgh", "PA", ("412",), ("152##",)),
        ("Madison", "WI", ("608",), ("537##",)),
        ("Boise", "ID", ("208",), ("837##",)),
        ("Albuquerque", "NM", ("505",), ("871##",)),
        ("Burlington", "VT", ("802",), ("054##",)),
    ),
    "GB": (
        ("London", "Greater London", (), ("SW1A #@@", "E1 #@@", "N1 #@@", "NW3 #@@", "SE1 #@@", "W2 #@@", "EC1A #@@")),
        ("Manchester", "Greater Manchester", (), ("M1 #@@", "M4 #@@", "M14 #@@", "M20 #@@")),
        ("Birmingham", "West Midlands", (), ("B1 #@@", "B15 #@@", "B29 #@@")),
        ("Leeds", "West Yorkshire", (), ("LS1 #@@", "LS6 #@@")),
        ("Glasgow", "Scotland", (), ("G1 #@@", "G12 #@@")),
        ("Edinburgh", "Scotland", (), ("EH1 #@@", "EH3 #@@", "EH9 #@@")),
        ("Bristol", "South West", (), ("BS1 #@@", "BS8 #@@")),
        ("Liverpool", "Merseyside", (), ("L1 #@@", "L17 #@@")),
        ("Cardiff", "Wales", (), ("CF10 #@@", "CF24 #@@")),
        ("Newcastle upon Tyne", "Tyne and Wear", (), ("NE1 #@@", "NE6 #@@")),
        ("Sheffield", "South Yorkshire", (), ("S1 #@@", "S10 #@@")),
        ("Nottingham", "East Midlands", (), ("NG1 #@@", "NG7 #@@")),
        ("Brighton", "East Sussex", (), ("BN1 #@@", "BN2 #@@")),
        ("Oxford", "Oxfordshire", (), ("OX1 #@@", "OX4 #@@")),
        ("Cambridge", "Cambridgeshire", (), ("CB1 #@@", "CB4 #@@")),
    ),
    "CA": (
        ("Toronto", "ON", ("416", "647", "437"), ("M5V #@#", "M4C #@#", "M6G #@#")),
        ("Vancouver", "BC", ("604", "778"), ("V6B #@#", "V5K #@#")),
        ("Montreal", "QC", ("514", "438"), ("H2X #@#", "H3A #@#")),
        ("Calgary", "AB", ("403", "587"), ("T2P #@#", "T3A #@#")),
        ("Ottawa", "ON", ("613", "343"), ("K1P #@#", "K2B #@#")),
        ("Edmonton", "AB", ("780",), ("T5J #@#", "T6E #@#")),
        ("Winnipeg", "MB", ("204",), ("R3C #@#",)),
        ("Halifax", "NS", ("902",), ("B3H #@#",)),
        ("Quebec City", "QC", ("418",), ("G1R #@#",)),
        ("Victoria", "BC", ("250",), ("V8W #@#",)),
    ),
}

# GB mobile numbers: +44 7 followed by one of these two digits and seven more (all valid ranges).
GB_MOBILE_PREFIXES = (
    "40", "41", "42", "43", "44", "47", "48", "49", "71", "72", "73", "74", "75", "76", "77",
    "80", "81", "84", "85", "86", "87", "88", "89", "90", "92", "94", "95", "96", "97", "98", "99",
)

# (domain, weight, countries it is used in; empty = everywhere)
EMAIL_DOMAINS = (
    ("gmail.com", 34, ()),
    ("yahoo.com", 9, ("US", "CA")),
    ("outlook.com", 9, ()),
    ("hotmail.com", 7, ()),
    ("icloud.com", 8, ()),
    ("aol.com", 3, ("US",)),
    ("proton.me", 3, ()),
    ("comcast.net", 3, ("US",)),
    ("fastmail.com", 2, ()),
    ("mail.com", 2, ()),
    ("btinternet.com", 6, ("GB",)),
    ("sky.com", 5, ("GB",)),
    ("yahoo.co.uk", 6, ("GB",)),
    ("shaw.ca", 5, ("CA",)),
    ("rogers.com", 5, ("CA",)),
)

# Domain typos seen in hand-typed CRM records.
DOMAIN_TYPOS = {
    "gmail.com": ("gmial.com", "gmai.com", "gmail.co", "gnail.com"),
    "yahoo.com": ("yaho.com", "yahooo.com", "yahoo.co"),
    "outlook.com": ("outlok.com", "outloo.com"),
    "hotmail.com": ("hotmial.com", "hotmal.com", "hotmail.co"),
    "icloud.com": ("iclod.com", "icloud.co"),
}

PRODUCT_CATEGORIES = ("Tents", "Sleeping Bags", "Backpacks", "Jackets", "Footwear", "Cookware", "Lighting", "Accessories")

# (product_id, sku, name, category, price in USD)
PRODUCTS = (
    ("prod_1001", "NW-TNT-2P", "Ridgeline 2-Person Tent", "Tents", 249.00),
    ("prod_1002", "NW-TNT-4P", "Basecamp 4-Person Tent", "Tents", 389.00),
    ("prod_1003", "NW-TNT-UL1", "Featherlite Solo Shelter", "Tents", 319.00),
    ("prod_1004", "NW-TNT-FTP", "Tent Footprint", "Tents", 39.95),
    ("prod_1005", "NW-SLB-20F", "Alpine 20F Sleeping Bag", "Sleeping Bags", 199.00),
    ("prod_1006", "NW-SLB-40F", "Summer 40F Sleeping Bag", "Sleeping Bags", 119.00),
    ("prod_1007", "NW-SLP-PAD", "Insulated Sleeping Pad", "Sleeping Bags", 89.95),
    ("prod_1008", "NW-SLP-PIL", "Packable Camp Pillow", "Sleeping Bags", 24.95),
    ("prod_1009", "NW-BPK-45L", "Trailhead 45L Backpack", "Backpacks", 179.00),
    ("prod_1010", "NW-BPK-65L", "Expedition 65L Backpack", "Backpacks", 259.00),
    ("prod_1011", "NW-BPK-DAY", "Summit 22L Daypack", "Backpacks", 79.95),
    ("prod_1012", "NW-BPK-HYD", "Hydration Vest 8L", "Backpacks", 99.00),
    ("prod_1013", "NW-JKT-RAIN", "Stormline Rain Jacket", "Jackets", 149.00),
    ("prod_1014", "NW-JKT-DOWN", "Cirrus Down Jacket", "Jackets", 229.00),
    ("prod_1015", "NW-JKT-FLC", "Midweight Fleece", "Jackets", 69.95),
    ("prod_1016", "NW-JKT-SFT", "Softshell Jacket", "Jackets", 129.00),
    ("prod_1017", "NW-FTW-HIKE", "Switchback Hiking Boot", "Footwear", 169.00),
    ("prod_1018", "NW-FTW-TRL", "Trail Runner", "Footwear", 129.00),
    ("prod_1019", "NW-FTW-SND", "Camp Sandal", "Footwear", 49.95),
    ("prod_1020", "NW-FTW-SCK", "Merino Hiking Socks (2 pack)", "Footwear", 29.95),
    ("prod_1021", "NW-CKW-STV", "Micro Canister Stove", "Cookware", 59.95),
    ("prod_1022", "NW-CKW-POT", "Titanium Pot 900ml", "Cookware", 44.95),
    ("prod_1023", "NW-CKW-MUG", "Insulated Camp Mug", "Cookware", 19.95),
    ("prod_1024", "NW-CKW-FLT", "Squeeze Water Filter", "Cookware", 39.95),
    ("prod_1025", "NW-LGT-HDL", "Headlamp 400", "Lighting", 49.95),
    ("prod_1026", "NW-LGT-LNT", "Rechargeable Lantern", "Lighting", 54.95),
    ("prod_1027", "NW-LGT-STR", "Camp String Lights", "Lighting", 29.95),
    ("prod_1028", "NW-ACC-TRK", "Carbon Trekking Poles", "Accessories", 139.00),
    ("prod_1029", "NW-ACC-BTL", "Steel Water Bottle 1L", "Accessories", 32.95),
    ("prod_1030", "NW-ACC-KNF", "Folding Knife", "Accessories", 44.95),
    ("prod_1031", "NW-ACC-FAK", "First Aid Kit", "Accessories", 34.95),
    ("prod_1032", "NW-ACC-CHR", "Packable Camp Chair", "Accessories", 89.00),
    ("prod_1033", "NW-ACC-HAM", "Ultralight Hammock", "Accessories", 69.95),
    ("prod_1034", "NW-ACC-GLV", "Trail Gloves", "Accessories", 34.95),
    ("prod_1035", "NW-ACC-HAT", "Sun Hat", "Accessories", 29.95),
    ("prod_1036", "NW-ACC-GFT", "Gift Card", "Accessories", 50.00),
)

# Currency per country and the factor applied to USD list prices.
CURRENCIES = {"US": ("USD", 1.0), "GB": ("GBP", 0.8), "CA": ("CAD", 1.35)}
TAX_RATES = {"US": 0.08, "GB": 0.20, "CA": 0.13}

# (store_id, name, city, country)
STORES = (
    ("STR-001", "Northwind New York SoHo", "New York", "US"),
    ("STR-002", "Northwind Chicago Loop", "Chicago", "US"),
    ("STR-003", "Northwind San Francisco", "San Francisco", "US"),
    ("STR-004", "Northwind Seattle", "Seattle", "US"),
    ("STR-005", "Northwind Denver", "Denver", "US"),
    ("STR-006", "Northwind Austin", "Austin", "US"),
    ("STR-007", "Northwind Boston", "Boston", "US"),
    ("STR-008", "Northwind Los Angeles", "Los Angeles", "US"),
    ("STR-009", "Northwind London Covent Garden", "London", "GB"),
    ("STR-010", "Northwind Manchester", "Manchester", "GB"),
    ("STR-011", "Northwind Edinburgh", "Edinburgh", "GB"),
    ("STR-012", "Northwind Toronto", "Toronto", "CA"),
    ("STR-013", "Northwind Vancouver", "Vancouver", "CA"),
)

SITE_URL = "https://www.northwind.example"
APP_NAME = "Northwind"
APP_NAMESPACE = "com.northwind.app"

WEB_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:129.0) Gecko/20100101 Firefox/129.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36 Edg/128.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
)
MOBILE_WEB_USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Mobile Safari/537.36",
)
# (os name, os version, manufacturer, model, user agent)
IOS_DEVICES = (
    ("iOS", "17.5", "Apple", "iPhone15,2", "Northwind/3.4.1 (iPhone; iOS 17.5; Scale/3.00)"),
    ("iOS", "18.0", "Apple", "iPhone16,1", "Northwind/3.4.1 (iPhone; iOS 18.0; Scale/3.00)"),
    ("iOS", "16.7", "Apple", "iPhone13,3", "Northwind/3.3.0 (iPhone; iOS 16.7; Scale/3.00)"),
)
ANDROID_DEVICES = (
    ("Android", "14", "Google", "Pixel 8", "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A)"),
    ("Android", "13", "samsung", "SM-S911B", "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A)"),
    ("Android", "14", "OnePlus", "CPH2449", "Dalvik/2.1.0 (Linux; U; Android 14; CPH2449 Build/UKQ1)"),
)
LIBRARIES = {
    "web": {"name": "analytics.js", "version": "next-1.70.0"},
    "ios": {"name": "analytics-ios", "version": "4.1.8"},
    "android": {"name": "analytics-android", "version": "4.11.3"},
}
APP_VERSIONS = {"ios": ("3.4.1", "341"), "android": ("3.4.0", "30400")}

REFERRERS = (
    "", "", "", "https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
    "https://duckduckgo.com/", "https://www.facebook.com/", "https://www.instagram.com/",
    "https://www.reddit.com/r/CampingGear/", "https://t.co/", "https://www.pinterest.com/",
)
SEARCH_TERMS = ("tent", "rain jacket", "sleeping bag", "boots", "headlamp", "backpack", "stove", "hammock", "gift card")

# Campaign themes; each campaign is named "<theme> <date>".
CAMPAIGN_THEMES = (
    "Weekly Trail Picks", "New Arrivals", "Members Only Offer", "Spring Gear Sale",
    "Summer Clearance", "Back to Trail", "Fall Layering Guide", "Black Friday Preview",
    "Holiday Gift Guide", "Winter Camping Tips", "Product Care Tips", "Weekend Flash Sale",
    "Loyalty Double Points", "Staff Favorites", "Trail Stories", "Last Chance",
)

# (subject, tags)
TICKET_SUBJECTS = (
    ("Where is my order?", ("shipping", "order_status")),
    ("Order arrived damaged", ("damaged", "returns")),
    ("Wrong size delivered", ("returns", "exchange")),
    ("How do I return an item?", ("returns",)),
    ("Refund not received", ("refund", "billing")),
    ("Charged twice for one order", ("billing", "payment")),
    ("Promo code not working", ("promotions", "checkout")),
    ("Cannot log in to my account", ("account", "login")),
    ("Reset my password", ("account", "login")),
    ("Loyalty points missing", ("loyalty",)),
    ("Update my email address", ("account",)),
    ("Unsubscribe me from emails", ("email", "privacy")),
    ("Delete my personal data", ("privacy", "gdpr")),
    ("Tent pole broke on first trip", ("warranty", "product_issue")),
    ("Zipper stuck on jacket", ("warranty", "product_issue")),
    ("Question about boot sizing", ("product_question",)),
    ("Is the sleeping bag machine washable?", ("product_question",)),
    ("Gift card balance", ("gift_card", "billing")),
    ("Change delivery address", ("shipping", "order_change")),
    ("Cancel my order", ("order_change", "cancellation")),
    ("Store pickup not ready", ("store", "pickup")),
    ("App keeps crashing at checkout", ("app", "bug", "checkout")),
)

JOB_TITLES = (
    "Marketing Manager", "Operations Director", "Software Engineer", "Account Executive",
    "Procurement Specialist", "Office Manager", "Head of Partnerships", "Product Manager",
    "Event Coordinator", "Outdoor Program Lead", "Purchasing Manager", "CEO", "Founder",
    "Data Analyst", "HR Business Partner", "Facilities Manager", "Sales Director",
    "Customer Success Manager", "Brand Manager", "Chief of Staff", "Logistics Coordinator",
    "Finance Manager", "Community Manager", "Store Manager", "Guide", "Teacher",
)

COMPANY_PREFIXES = (
    "Summit", "Blue Ridge", "Cascade", "Evergreen", "Granite", "Horizon", "Ironwood", "Juniper",
    "Keystone", "Lakeshore", "Meridian", "North Star", "Oakmont", "Pinnacle", "Quarry",
    "Redwood", "Silverline", "Timberline", "Upland", "Vantage", "Westbrook", "Yellowstone",
    "Alder", "Beacon", "Copper", "Driftwood", "Echo", "Foxglove", "Glacier", "Harbor",
    "Indigo", "Kestrel", "Lumen", "Maple", "Nimbus", "Orchard", "Prairie", "Riverbend",
    "Sagebrush", "Tidewater", "Umber", "Valley", "Willow", "Aspen", "Bramble", "Coastal",
    "Delta", "Elm Street", "Fairway", "Golden Gate", "Highland", "Ivy", "Jasper", "Kingfisher",
    "Larkspur", "Moraine", "Northfield", "Osprey", "Pioneer", "Stonebridge",
)
COMPANY_CORES = (
    "Analytics", "Outfitters", "Logistics", "Health", "Labs", "Consulting", "Adventures",
    "Builders", "Systems", "Media", "Foods", "Capital", "Travel", "Software", "Schools",
    "Energy", "Design", "Events", "Retail", "Partners", "Robotics", "Clinic", "Brewing",
    "Expeditions", "Studios", "Networks", "Supply", "Academy", "Realty", "Dynamics",
)
COMPANY_SUFFIXES = ("Inc.", "LLC", "Ltd", "Group", "Co.")
INDUSTRIES = (
    "COMPUTER_SOFTWARE", "HOSPITAL_HEALTH_CARE", "RETAIL", "EDUCATION_MANAGEMENT",
    "LEISURE_TRAVEL_TOURISM", "MARKETING_AND_ADVERTISING", "FINANCIAL_SERVICES", "CONSTRUCTION",
    "FOOD_BEVERAGES", "LOGISTICS_AND_SUPPLY_CHAIN", "RECREATIONAL_FACILITIES_AND_SERVICES",
    "NONPROFIT_ORGANIZATION_MANAGEMENT", "REAL_ESTATE", "EVENTS_SERVICES", "SPORTING_GOODS",
)

TICKET_TYPES = (("General Admission", 60), ("Early Bird", 20), ("VIP", 8), ("Student", 10), ("Speaker", 2))
