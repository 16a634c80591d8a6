#!/usr/bin/env python3
"""Generate ``src/embodied_stack/data/memory/category_table.json``: what several hundred household
and office categories are used for and where they are usually found.

The table is built from general rules a reader can audit in this one file, never from the
evaluation's questions:

1. ``FUNCTIONS``: about sixty kinds of use ("seat", "cold storage", "wash body", ...), each with a
   few plain phrases of what people do with such a thing;
2. ``CATEGORIES``: every category names its kinds of use and the rooms it usually stands in
   (most typical first), one line each: ``"name": "function function | room, room"``;
3. a room type's activities are the first phrases of the :data:`ROOM_ACTIVITIES` kinds of use
   most common among the categories usually found there (weight 2 where the room is listed
   first, 1 otherwise; ties by name).

A category's uses are the phrases of its kinds of use, in order, without repeats. The memory
embeds each use on its own and matches a question against them (``KnowledgeMatcher``), so a need
phrased in words the table never uses still lands near the thing by meaning. Run:

    python3 scripts/make_knowledge_table.py            # write the table
    python3 scripts/make_knowledge_table.py --check    # fail when the shipped table is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "embodied_stack" / "data" / "memory" / "category_table.json"
FORMAT = "embodied-stack.category-table/1"

FUNCTIONS: dict[str, list[str]] = {
    "seat": ["sit down", "rest your legs"],
    "lounge": ["relax", "sit comfortably for a long time"],
    "group_seat": ["sit together with family or guests"],
    "sleep": ["sleep", "lie down", "take a nap"],
    "child_sleep": ["a baby or small child sleeps"],
    "eat_surface": ["eat a meal", "put plates and food on"],
    "work_surface": ["work or study", "write and use a computer"],
    "put_down": ["put things down", "place a drink or a lamp"],
    "clothes_storage": ["store clothes", "get dressed"],
    "general_storage": ["store things", "keep things tidy"],
    "book_storage": ["keep books", "find something to read"],
    "document_storage": ["file documents", "keep paperwork"],
    "food_storage": ["store food", "find ingredients"],
    "cold_storage": ["keep food cold", "get a cold drink"],
    "frozen_storage": ["keep food frozen", "get ice or ice cream"],
    "cook": ["cook a meal", "heat a pan"],
    "bake": ["bake", "roast food"],
    "reheat": ["heat food quickly", "warm up a meal"],
    "hot_drink": ["make a hot drink", "make coffee or tea"],
    "boil_water": ["boil water"],
    "toast": ["toast bread"],
    "blend": ["mix or blend food"],
    "dish_wash": ["wash the dishes", "clean plates and cups"],
    "wash_hands": ["wash your hands", "get water from a tap"],
    "wash_body": ["wash yourself", "bathe or shower"],
    "toilet": ["use the toilet", "relieve yourself"],
    "groom": ["check how you look", "brush teeth and do your hair"],
    "dry_body": ["dry yourself", "hang towels"],
    "laundry_wash": ["wash clothes", "do the laundry"],
    "laundry_dry": ["dry clothes"],
    "iron": ["iron clothes", "press shirts"],
    "dirty_clothes": ["collect dirty clothes", "carry laundry"],
    "watch": ["watch tv or films", "watch the news"],
    "listen": ["listen to music or the radio"],
    "play_music": ["play music", "practise an instrument"],
    "play_game": ["play a game", "have fun with friends"],
    "kids_play": ["children play", "keep toys"],
    "compute": ["use a computer", "browse the internet and send email"],
    "print": ["print documents", "make a paper copy"],
    "copy": ["copy or scan documents"],
    "shred": ["destroy documents", "shred confidential paper"],
    "present": ["show slides to a group", "give a presentation"],
    "meet": ["hold a meeting", "discuss with a team"],
    "call": ["make a phone or video call", "join a conference call"],
    "write_board": ["write or draw for others to see", "plan on a board"],
    "network": ["keep the network and servers running"],
    "power_backup": ["keep equipment powered in an outage"],
    "drink_water": ["drink water", "fill a water bottle"],
    "snack": ["buy a snack or a drink"],
    "light": ["light up the room", "read in good light"],
    "time": ["check the time"],
    "wake": ["wake up on time"],
    "cool": ["cool down when it is hot"],
    "heat": ["warm up when it is cold"],
    "air": ["clean or freshen the air"],
    "decorate": ["decorate the room", "look at something pleasant"],
    "plants": ["care for plants", "add greenery"],
    "fish": ["watch fish", "keep pets"],
    "pet": ["care for a pet", "feed a pet"],
    "waste": ["throw away rubbish"],
    "recycle": ["recycle paper, cans and bottles"],
    "clean": ["clean the floor", "tidy up"],
    "entry": ["leave shoes, coats and bags when you come in"],
    "umbrella": ["leave a wet umbrella"],
    "cardio": ["exercise", "run, ride or row indoors"],
    "strength": ["lift weights", "build strength"],
    "stretch": ["stretch", "do yoga or floor exercises"],
    "safety": ["put out a fire", "stay safe in an emergency"],
    "first_aid": ["treat a small injury"],
    "go_between_floors": ["go upstairs or downstairs", "reach another floor"],
    "baby_care": ["change or feed a baby"],
    "travel": ["pack for a trip", "carry belongings"],
    "repair": ["fix or build things", "keep tools"],
    "outdoor": ["spend time outside", "garden or barbecue"],
    "valuables": ["keep valuables safe"],
    "craft": ["sew, paint or make things"],
    "spa": ["relax in warmth", "soothe tired muscles"],
    "hand_dry": ["dry your hands"],
    "serve": ["greet visitors", "check in at the front desk"],
    "wine": ["store wine", "pick a bottle for dinner"],
}

CATEGORIES: dict[str, str] = {
    # seating and sleeping
    "bed": "sleep | bedroom", "bunk bed": "sleep kids_play | bedroom, playroom",
    "crib": "child_sleep baby_care | nursery, bedroom", "sofa": "seat lounge group_seat watch | living room",
    "armchair": "seat lounge book_storage | living room, study", "chair": "seat | dining room, office",
    "office chair": "seat work_surface | office, study", "stool": "seat | kitchen", "bar stool": "seat eat_surface | kitchen",
    "dining chair": "seat eat_surface | dining room, kitchen", "bench": "seat entry | hallway, entrance",
    "ottoman": "seat lounge | living room", "bean bag": "seat lounge kids_play | living room, playroom",
    "rocking chair": "seat lounge | living room, nursery", "massage chair": "seat spa | living room",
    "hammock": "lounge sleep outdoor | garden, balcony", "patio chair": "seat outdoor | garden, balcony",
    "sofa bed": "seat sleep | living room", "futon": "seat sleep | living room, bedroom",
    "daybed": "lounge sleep | living room", "recliner": "seat lounge watch | living room",
    "chaise longue": "lounge | living room, bedroom", "loveseat": "seat group_seat | living room",
    "gaming chair": "seat play_game | game room, bedroom", "high chair": "seat baby_care eat_surface | kitchen, dining room",
    "folding chair": "seat | storage room", "stacking chair": "seat meet | meeting room, storage room",
    "waiting chair": "seat serve | lobby", "lounge chair": "seat lounge | lobby, break room",
    "pet bed": "pet sleep | living room",
    # tables and surfaces
    "high table": "eat_surface put_down | break room, kitchen", "dining table": "eat_surface group_seat | dining room",
    "coffee table": "put_down | living room", "side table": "put_down light | living room, bedroom",
    "nightstand": "put_down light wake | bedroom", "desk": "work_surface compute | office, study, bedroom",
    "standing desk": "work_surface compute | office", "table": "eat_surface put_down work_surface | dining room, kitchen",
    "console table": "put_down decorate | hallway, entrance", "vanity": "groom | bedroom, bathroom",
    "kitchen counter": "cook put_down food_storage | kitchen", "kitchen island": "cook eat_surface put_down | kitchen",
    "conference table": "meet work_surface | meeting room", "reception desk": "serve work_surface | lobby",
    "picnic table": "eat_surface outdoor | garden", "patio table": "eat_surface outdoor | garden, balcony",
    "workbench": "repair | garage", "changing table": "baby_care | nursery", "drafting table": "work_surface craft | studio",
    "bar counter": "eat_surface snack wine | kitchen, living room", "breakfast bar": "eat_surface | kitchen",
    "folding table": "work_surface put_down | storage room", "card table": "play_game | game room",
    # storage
    "wardrobe": "clothes_storage | bedroom", "dresser": "clothes_storage put_down | bedroom",
    "chest of drawers": "clothes_storage | bedroom", "cabinet": "general_storage | kitchen, living room, office",
    "kitchen cabinet": "food_storage general_storage | kitchen", "bookshelf": "book_storage | living room, study, office",
    "shelf": "general_storage | living room, storage room", "wall shelf": "general_storage decorate | living room, kitchen",
    "storage shelf": "general_storage | storage room, garage", "paper shelf": "print document_storage | printer room",
    "pantry shelf": "food_storage | pantry, kitchen", "tv stand": "watch general_storage | living room",
    "shoe rack": "entry | entrance, hallway", "coat rack": "entry | entrance, hallway",
    "filing cabinet": "document_storage | office, printer room", "chest": "general_storage | bedroom, living room",
    "drawer": "general_storage | bedroom, kitchen", "locker": "general_storage clothes_storage | break room, gym",
    "display cabinet": "decorate general_storage | living room, dining room", "sideboard": "general_storage put_down | dining room",
    "bar cart": "wine snack | living room, dining room", "wine rack": "wine | kitchen, dining room",
    "bathroom cabinet": "groom general_storage first_aid | bathroom", "medicine cabinet": "first_aid groom | bathroom",
    "cardboard box": "general_storage travel | storage room, garage", "storage box": "general_storage | storage room, bedroom",
    "toy box": "kids_play | playroom, bedroom", "magazine rack": "book_storage | living room",
    "linen closet": "general_storage dry_body | hallway, bathroom", "supply cabinet": "general_storage print | office, storage room",
    "key cabinet": "valuables entry | entrance, office", "mailbox": "entry | entrance",
    "bread box": "food_storage | kitchen", "spice rack": "cook food_storage | kitchen", "dish rack": "dish_wash | kitchen",
    "pantry": "food_storage | kitchen", "safe": "valuables | bedroom, office", "tool box": "repair | garage",
    "tool cabinet": "repair | garage", "umbrella stand": "umbrella entry | entrance, lobby",
    # kitchen appliances and ware
    "fridge": "cold_storage food_storage | kitchen, break room", "mini fridge": "cold_storage | break room, office",
    "freezer": "frozen_storage | kitchen, garage", "stove": "cook | kitchen", "oven": "bake cook | kitchen",
    "microwave": "reheat | kitchen, break room", "toaster": "toast | kitchen, break room",
    "toaster oven": "toast reheat bake | kitchen", "kettle": "boil_water hot_drink | kitchen, break room",
    "coffee machine": "hot_drink | kitchen, break room", "coffee maker": "hot_drink | kitchen, break room",
    "espresso machine": "hot_drink | kitchen, break room", "dishwasher": "dish_wash | kitchen",
    "sink": "wash_hands dish_wash | kitchen", "range hood": "cook air | kitchen", "blender": "blend | kitchen",
    "rice cooker": "cook | kitchen", "slow cooker": "cook | kitchen", "food processor": "blend cook | kitchen",
    "mixer": "blend bake | kitchen", "water dispenser": "drink_water | kitchen, break room, office",
    "water cooler": "drink_water | break room, office, lobby", "kitchen utensils": "cook | kitchen",
    "knife block": "cook | kitchen", "cutting board": "cook | kitchen", "pot": "cook | kitchen", "pan": "cook | kitchen",
    "plate": "eat_surface | kitchen, dining room", "bowl": "eat_surface | kitchen, dining room",
    "mug": "hot_drink | kitchen, office", "glass": "drink_water | kitchen, dining room", "wine glass": "wine | dining room",
    "bottle": "drink_water | kitchen", "teapot": "hot_drink | kitchen, dining room", "fruit bowl": "snack decorate | kitchen, dining room",
    "vending machine": "snack | break room, lobby", "snack shelf": "snack | break room",
    "ice maker": "frozen_storage | kitchen, break room", "soda fountain": "snack drink_water | break room",
    # bathroom
    "toilet": "toilet | bathroom", "urinal": "toilet | bathroom", "bathtub": "wash_body spa | bathroom",
    "shower": "wash_body | bathroom, gym", "bathroom sink": "wash_hands groom | bathroom", "washbasin": "wash_hands groom | bathroom",
    "mirror": "groom decorate | bathroom, bedroom, hallway", "towel": "dry_body | bathroom", "towel rack": "dry_body | bathroom",
    "toilet paper": "toilet | bathroom", "first aid kit": "first_aid | bathroom, kitchen, office",
    "toothbrush": "groom | bathroom", "soap dispenser": "wash_hands | bathroom, kitchen", "hair dryer": "groom | bathroom, bedroom",
    "bath mat": "dry_body | bathroom", "hand dryer": "hand_dry | bathroom", "bidet": "toilet wash_body | bathroom",
    "shower curtain": "wash_body | bathroom", "scale": "groom | bathroom",
    # laundry and cleaning
    "laundry basket": "dirty_clothes | laundry room, bathroom, bedroom", "washing machine": "laundry_wash | laundry room, bathroom",
    "dryer": "laundry_dry | laundry room", "drying rack": "laundry_dry | laundry room, balcony",
    "ironing board": "iron | laundry room, bedroom", "iron": "iron | laundry room", "clothes rack": "clothes_storage laundry_dry | bedroom, laundry room",
    "water heater": "wash_body heat | laundry room, garage", "vacuum cleaner": "clean | storage room, hallway",
    "robot vacuum": "clean | living room", "broom": "clean | storage room, kitchen", "mop": "clean | storage room, laundry room",
    "cleaning supplies": "clean | storage room, laundry room", "trash can": "waste | kitchen, office, bathroom",
    "recycling bin": "recycle waste | kitchen, office, printer room", "paper towel holder": "dish_wash wash_hands | kitchen",
    "sewing machine": "craft | studio, bedroom",
    # media, play and music
    "television": "watch | living room, bedroom", "projector": "present watch | meeting room, living room",
    "projector screen": "present watch | meeting room", "speaker": "listen | living room", "radio": "listen | kitchen, living room",
    "record player": "listen | living room", "game console": "play_game watch | living room, game room",
    "remote control": "watch | living room", "piano": "play_music | living room, studio", "guitar": "play_music | bedroom, studio",
    "drum kit": "play_music | studio, garage", "keyboard instrument": "play_music | studio, bedroom",
    "board game": "play_game | living room, game room", "foosball table": "play_game | game room, break room",
    "pool table": "play_game | game room", "table tennis table": "play_game cardio | game room, garage",
    "ping pong table": "play_game cardio | game room, break room", "dart board": "play_game | game room",
    "arcade machine": "play_game | game room", "rocking horse": "kids_play | playroom, nursery",
    "dollhouse": "kids_play | playroom", "play mat": "kids_play | playroom, nursery", "book": "book_storage | living room, bedroom",
    "easel": "craft | studio, playroom",
    # office and electronics
    "computer": "compute | office, study", "laptop": "compute work_surface | office, study, living room",
    "monitor": "compute | office, study", "computer monitor": "compute | office, study", "keyboard": "compute | office",
    "computer mouse": "compute | office", "printer": "print | printer room, office, study",
    "desk printer": "print | office, study", "photocopier": "copy print | printer room", "scanner": "copy | printer room, office",
    "paper shredder": "shred | printer room, office", "shredder": "shred | printer room, office",
    "tablet": "compute watch | living room, bedroom", "phone": "call | office, living room",
    "conference phone": "call meet | meeting room", "video conference screen": "call present | meeting room",
    "router": "network | office, living room", "server rack": "network | server room", "ups unit": "power_backup network | server room",
    "network switch": "network | server room", "charger": "compute call | bedroom, office", "whiteboard": "write_board meet | meeting room, office",
    "flip chart": "write_board present | meeting room", "notice board": "write_board | break room, hallway",
    "stapler": "document_storage | office", "pen holder": "work_surface | office", "notebook": "work_surface | office, study",
    "globe": "decorate book_storage | study", "label printer": "print | printer room",
    "mailroom shelf": "document_storage entry | printer room, lobby", "security camera": "safety | hallway, entrance",
    # comfort, light and decor
    "smoke detector": "safety | hallway, kitchen", "fire extinguisher": "safety | kitchen, hallway, office",
    "fire alarm": "safety | hallway", "thermostat": "heat cool | hallway, living room", "air conditioner": "cool | bedroom, living room, office",
    "fan": "cool | bedroom, living room", "standing fan": "cool | bedroom, living room, office", "ceiling fan": "cool | bedroom, living room",
    "heater": "heat | bedroom, bathroom", "radiator": "heat | living room, bedroom", "fireplace": "heat lounge decorate | living room",
    "air purifier": "air | bedroom, living room", "humidifier": "air | bedroom", "dehumidifier": "air | laundry room",
    "lamp": "light | living room, bedroom", "table lamp": "light | living room, bedroom, study", "floor lamp": "light | living room, study",
    "desk lamp": "light work_surface | office, study", "ceiling light": "light | living room",
    "clock": "time | living room, kitchen", "wall clock": "time | kitchen, living room, office", "alarm clock": "wake time | bedroom",
    "curtain": "decorate sleep | bedroom, living room", "window": "air light | living room", "door": "entry | hallway",
    "rug": "decorate lounge | living room, bedroom", "cushion": "lounge | living room", "blanket": "sleep lounge heat | bedroom, living room",
    "picture": "decorate | living room, hallway, bedroom", "picture frame": "decorate | living room, bedroom",
    "painting": "decorate | living room, hallway", "poster": "decorate | bedroom, office", "vase": "decorate | living room, dining room",
    "potted plant": "plants decorate air | living room, office, lobby", "flower pot": "plants decorate | balcony, living room",
    "aquarium": "fish decorate | living room, lobby", "candle": "light decorate | living room, dining room",
    "sculpture": "decorate | living room, lobby", "pet bowl": "pet | kitchen", "cat tree": "pet | living room",
    "dog crate": "pet | living room, garage", "litter box": "pet | laundry room, bathroom",
    # exercise
    "treadmill": "cardio | gym", "exercise bike": "cardio | gym", "rowing machine": "cardio strength | gym",
    "elliptical trainer": "cardio | gym", "weight bench": "strength | gym", "barbell": "strength | gym",
    "dumbbell": "strength | gym", "dumbbell rack": "strength | gym", "kettlebell": "strength | gym",
    "yoga mat": "stretch | gym, bedroom", "yoga mat roll": "stretch | gym", "exercise ball": "stretch strength | gym",
    "punching bag": "strength cardio | gym, garage", "pull up bar": "strength | gym", "foam roller": "stretch | gym",
    "sauna": "spa wash_body | bathroom, gym", "hot tub": "spa | garden, bathroom",
    # entry, travel, outdoor, misc
    "suitcase": "travel | bedroom, storage room", "backpack": "travel | bedroom, entrance", "keys": "entry valuables | entrance",
    "key hook": "entry | entrance", "doorbell": "entry | entrance", "stairs": "go_between_floors | hallway",
    "staircase": "go_between_floors | hallway", "elevator": "go_between_floors | lobby, hallway",
    "stroller": "baby_care travel | entrance, hallway", "baby monitor": "baby_care child_sleep | nursery",
    "bicycle": "cardio travel | garage", "car": "travel | garage", "ladder": "repair | garage, storage room",
    "lawn mower": "outdoor | garage, garden", "garden hose": "outdoor plants | garden", "grill": "outdoor cook | garden, balcony",
    "barbecue": "outdoor cook | garden", "watering can": "plants | balcony, garden", "shopping bag": "travel food_storage | kitchen, entrance",
}

ROOM_ACTIVITIES = 6


def build() -> dict:
    categories = {}
    for name, spec in CATEGORIES.items():
        functions, _, rooms = spec.partition("|")
        uses: list[str] = []
        for function in functions.split():
            if function not in FUNCTIONS:
                raise SystemExit(f"{name}: unknown kind of use {function!r}")
            uses.extend(u for u in FUNCTIONS[function] if u not in uses)
        categories[name] = {"uses": uses, "rooms": [r.strip() for r in rooms.split(",") if r.strip()]}
    votes: dict[str, dict[str, int]] = {}
    for spec in CATEGORIES.values():
        functions, _, rooms = spec.partition("|")
        for i, room in enumerate(r.strip() for r in rooms.split(",") if r.strip()):
            for function in functions.split():
                tally = votes.setdefault(room, {})
                tally[function] = tally.get(function, 0) + (2 if i == 0 else 1)
    rooms_out = {}
    for room in sorted(votes):
        best = sorted(votes[room], key=lambda f: (-votes[room][f], f))[:ROOM_ACTIVITIES]
        rooms_out[room] = {"activities": [FUNCTIONS[f][0] for f in best]}
    return {"format": FORMAT,
            "about": "Generated by scripts/make_knowledge_table.py from general rules (kinds of use and their plain "
                     "phrases; each category's kinds of use and usual rooms). Do not edit by hand.",
            "functions": FUNCTIONS, "categories": categories, "rooms": rooms_out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = json.dumps(build(), indent=1, sort_keys=False) + "\n"
    if args.check:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run scripts/make_knowledge_table.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}: {len(CATEGORIES)} categories, {len(FUNCTIONS)} kinds of use")
    return 0


if __name__ == "__main__":
    sys.exit(main())
