"""A small labelled retrieval set: 50 short documents written for this benchmark (fictional
products, policies and facts, several on near topics so that the right one must be told apart)
and 57 queries, each with the one document that answers it.

26 queries paraphrase their answer (no shared rare words: meaning matters), 31 name something
exact (a code, a name, a number: words matter), as users of a knowledge base do; every code of
the set is asked for on its own.
"""

DOCUMENTS: dict[str, str] = {
    "vpn": "To reach the office network from home, install the WireGuard client and import the "
    "profile from the IT portal. Connections drop after 12 hours and must be re-established.",
    "wifi": "Guests connect to the Wi-Fi network named Lobby-Guest. The password changes every "
    "Monday and is printed on the reception desk card.",
    "printer": "The third-floor printer PR-3310 jams when envelopes are fed from tray 2. Use the "
    "manual feed slot for envelopes and labels.",
    "expenses": "Travel expenses are refunded within 14 days once receipts are uploaded. Meals "
    "are capped at 45 euros per day; alcohol is never refunded.",
    "parental": "Parents receive 16 weeks of paid leave after a birth or adoption, which can be "
    "split into two blocks within the child's first year.",
    "sick": "If you are ill, tell your manager before 10 am. From the fourth day of absence a "
    "doctor's note is required.",
    "holiday": "Full-time staff have 27 days of annual leave. Up to five unused days carry over "
    "into the next year and expire at the end of March.",
    "pension": "The company pays 6 percent of salary into the pension plan and matches employee "
    "contributions up to a further 3 percent.",
    "bike": "The cycle-to-work scheme lends staff up to 2,000 euros for a bicycle, repaid from "
    "gross salary over 24 months.",
    "parking": "Parking permits for the underground garage are issued by facilities. Electric "
    "cars may charge at bays 40 to 52 for free.",
    "kettle": "The Aurora K2 kettle boils 1.7 litres in about four minutes and switches itself "
    "off when the base is dry.",
    "toaster": "The Aurora T4 toaster has six browning levels and a defrost button; crumbs "
    "collect in a tray that slides out at the back.",
    "blender": "The Aurora B9 blender crushes ice with a 1,200 watt motor. Its glass jug is "
    "dishwasher safe but the blade unit is not.",
    "fridge-alarm": "Error code F-27 on the Aurora fridge means the door was left open for more "
    "than two minutes; closing the door clears it.",
    "fridge-ice": "When the fridge's ice maker stops, check that the water line valve behind the "
    "appliance is open and that the filter was changed within six months.",
    "warranty": "All Aurora appliances carry a two-year warranty covering parts and labour. "
    "Damage from dropping or water is not covered.",
    "returns": "Unused products may be returned within 30 days with the receipt for a full "
    "refund to the original payment method.",
    "shipping": "Orders placed before 2 pm ship the same working day. Delivery to islands takes "
    "two extra days.",
    "volcano": "Mount Keller, a dormant volcano, last erupted in 1783. Its crater lake is now a "
    "protected habitat for rare salamanders.",
    "glacier": "The Senn glacier has retreated 1.4 kilometres since 1900, exposing bare rock "
    "where ice once stood a hundred metres thick.",
    "river": "The Orla river floods each spring when snow melts in the highlands, enriching "
    "the farmland of the lower valley with silt.",
    "desert": "The Varo desert receives less than 50 millimetres of rain a year, yet flowers "
    "bloom across it for two weeks after a rare storm.",
    "coral": "Coral reefs bleach when warm water makes corals expel the algae that feed them "
    "and give them their colour.",
    "owl": "The snowy owl hunts by day during the Arctic summer, when the sun never sets, "
    "feeding mostly on lemmings.",
    "bees": "Honeybees tell hive mates where flowers are with a waggle dance whose angle points "
    "relative to the sun.",
    "octopus": "An octopus has three hearts and blue blood, and it can change the colour of its "
    "skin in a fraction of a second.",
    "python-gil": "CPython's global interpreter lock lets only one thread run Python bytecode at "
    "a time, so CPU-bound threads do not run in parallel.",
    "postgres-vacuum": "PostgreSQL's autovacuum removes dead row versions left by updates and "
    "deletes, and refreshes planner statistics.",
    "git-rebase": "git rebase replays your commits on top of another branch, giving a straight "
    "history instead of a merge commit.",
    "dns-ttl": "A DNS record's TTL tells resolvers how many seconds they may cache the answer "
    "before asking the authoritative server again.",
    "tls-cert": "Let's Encrypt certificates are valid for 90 days; renew them automatically "
    "with a cron job or a systemd timer.",
    "redis-eviction": "When Redis reaches maxmemory, the allkeys-lru policy evicts the least "
    "recently used keys to make room.",
    "bread": "Sourdough rises with a starter of wild yeast and lactic bacteria; a long, cold "
    "proof deepens the sour flavour.",
    "pasta": "Cook dried pasta in plenty of salted boiling water and keep a cup of the starchy "
    "water to loosen the sauce.",
    "coffee": "Espresso is brewed by forcing water at about nine bars of pressure through finely "
    "ground coffee for 25 to 30 seconds.",
    "tea": "Green tea turns bitter when brewed with boiling water; steep it at about 80 degrees "
    "for two to three minutes.",
    "marathon": "The marathon distance of 42.195 kilometres was fixed at the 1908 London Olympics "
    "so the race could finish in front of the royal box.",
    "chess": "In chess, castling moves the king two squares towards a rook, which then jumps to "
    "the square the king crossed.",
    "violin": "A violin has four strings tuned in fifths: G, D, A and E, from the lowest to the "
    "highest.",
    "telescope": "The Halden Observatory's 2.4 metre mirror telescope was ground in 1961 and is "
    "still used for variable star surveys.",
    # Near neighbours of the documents above: same topic, codes and names that differ a little.
    "printer-2": "The second-floor printer PR-3130 prints double-sided by default; choose "
    "single-sided in the print dialog to save toner.",
    "printer-1": "The ground-floor printer PR-1330 scans to e-mail; press the envelope icon and "
    "type the address.",
    "fridge-door": "Error code F-72 on the Aurora fridge means the freezer temperature sensor "
    "failed; call the service line.",
    "fridge-power": "Error code F-22 on the Aurora fridge appears after a power cut and clears "
    "itself within an hour.",
    "toaster-2": "The Aurora T9 toaster has wide slots for bagels and a keep-warm setting that "
    "lasts three minutes.",
    "blender-2": "The Aurora B4 blender is a compact model with a 600 watt motor and two "
    "travel cups.",
    "kettle-2": "The Aurora K7 kettle lets you pick a temperature from 60 to 100 degrees in "
    "steps of ten.",
    "wifi-2": "Staff connect to the Wi-Fi network named Corp-Secure with their own account; "
    "guests cannot see it.",
    "volcano-2": "Mount Kessel, an active volcano, erupts every few years and its ash closes "
    "the regional airport.",
    "river-2": "The Orna river is dammed near its mouth, and its reservoir supplies drinking "
    "water to the capital.",
}

# (query, id of the answering document): paraphrases first, then exact terms.
PARAPHRASES: list[tuple[str, str]] = [
    ("How do I work remotely on the company network?", "vpn"),
    ("What can visitors use to get online?", "wifi"),
    ("How much parental time off do new mothers and fathers get?", "parental"),
    ("When must I let my boss know I can't come in because I'm unwell?", "sick"),
    ("Can I keep vacation days I did not use?", "holiday"),
    ("How does the employer contribute to retirement savings?", "pension"),
    ("Is there help buying a bike for commuting?", "bike"),
    ("Where can I charge my electric vehicle at work?", "parking"),
    ("Which appliance stops heating when it runs out of water?", "kettle"),
    ("What is covered if my appliance breaks?", "warranty"),
    ("Can I send back something I bought and get my money back?", "returns"),
    ("Why does the ice machine in my refrigerator not make ice?", "fridge-ice"),
    ("Which mountain could erupt again one day?", "volcano"),
    ("How has the ice sheet shrunk over the last century?", "glacier"),
    ("Why do reefs lose their colour?", "coral"),
    ("How do insects share where food is?", "bees"),
    ("Why can't threads speed up my number crunching in Python?", "python-gil"),
    ("How long can resolvers remember a domain lookup?", "dns-ttl"),
    ("What happens to cached data when the memory limit is reached?", "redis-eviction"),
    ("How hot should the water be for a delicate tea?", "tea"),
    ("Which printer can send scans by email?", "printer-1"),
    ("What does the fridge show after the electricity went out?", "fridge-power"),
    ("Which kettle heats water to a temperature I choose?", "kettle-2"),
    ("Which toaster fits bagels?", "toaster-2"),
    ("Where does the capital's tap water come from?", "river-2"),
    ("Which wireless network do employees use?", "wifi-2"),
]
# Every product, error or place code of the set on its own, plus names and numbers.
EXACT: list[tuple[str, str]] = [
    ("What does F-27 mean?", "fridge-alarm"),
    ("PR-3310", "printer"),
    ("meal cap 45 euros", "expenses"),
    ("Lobby-Guest", "wifi"),
    ("WireGuard profile", "vpn"),
    ("Aurora T4 toaster", "toaster"),
    ("B9 blender", "blender"),
    ("orders before 2 pm", "shipping"),
    ("Mount Keller", "volcano"),
    ("Orla river", "river"),
    ("Varo desert rain", "desert"),
    ("snowy owl lemmings", "owl"),
    ("octopus three hearts", "octopus"),
    ("autovacuum dead rows", "postgres-vacuum"),
    ("git rebase", "git-rebase"),
    ("Let's Encrypt 90 days", "tls-cert"),
    ("sourdough starter", "bread"),
    ("nine bars espresso", "coffee"),
    ("42.195 kilometres 1908", "marathon"),
    ("Halden Observatory mirror", "telescope"),
    ("PR-3130", "printer-2"),
    ("PR-1330", "printer-1"),
    ("F-72", "fridge-door"),
    ("F-22", "fridge-power"),
    ("Aurora K2", "kettle"),
    ("Aurora K7", "kettle-2"),
    ("Aurora T9", "toaster-2"),
    ("Aurora B4", "blender-2"),
    ("Corp-Secure", "wifi-2"),
    ("Mount Kessel", "volcano-2"),
    ("Orna river", "river-2"),
]
QUERIES = PARAPHRASES + EXACT
