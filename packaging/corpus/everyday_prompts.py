"""Everyday chat prompts for the broader default-SAE corpus: hundreds of topics × many kinds of text (explanations,
emails, stories, dialogues, advice, lists, reviews, poems), so the SAE sees the distribution the app steers — the
model's own answers to ordinary requests — and not only dictionary and scripture text.

Deterministic: each topic gets TEMPLATES_PER_TOPIC templates drawn with a fixed seed. These prompts are for
training only; the steering evaluation's prompt sets (resources/steer_eval/) are separate and must stay disjoint.
"""

from __future__ import annotations

import random

TOPICS = """
a rainy weekend; a first day at a new job; learning to cook rice; a broken washing machine; planning a wedding;
a trip to the dentist; training a puppy; a noisy neighbour; buying a used car; a school science fair;
a birthday surprise; moving house; a lost wallet; growing herbs on a balcony; a power cut; a marathon;
a job interview; a camping trip; a missed train; learning the guitar; a family reunion; a new smartphone;
a book club; a flat tyre; a snow day; a visit to grandparents; a garage sale; a farmers' market;
a late library book; a hospital visit; a surprise exam; a team project; a leaking roof; a first date;
a photography walk; a cooking disaster; a school trip to a museum; a holiday in Spain; a night at the theatre;
a new bicycle; a cat that will not eat; a hiking accident; a chess tournament; a yard sale; a bakery;
a dance class; a bus strike; a wedding speech; a thank-you note; a complaint about a late delivery;
a refund request; a meeting reminder; a project deadline; a resignation letter; a welcome message for a new colleague;
a volunteering day; a charity fundraiser; a neighbourhood clean-up; an apology to a friend; a retirement party;
a parent-teacher meeting; a dentist appointment reminder; a lost dog poster; a recipe swap; a garden party;
the history of tea; how bread rises; why the sky is blue; how bees make honey; how a fridge keeps food cold;
how vaccines train the immune system; why leaves change colour; how airplanes stay up; how rainbows form;
the life of a honeybee; how earthquakes happen; why we dream; how the heart pumps blood; the water cycle;
how batteries work; how the internet sends a message; why the moon has phases; how glaciers move;
how a bill becomes law; the causes of inflation; how compound interest works; how to budget a salary;
how to write a cover letter; how to prepare for an exam; how to stay focused; how to sleep better;
how to start jogging; how to make friends in a new city; how to learn a language; how to give feedback;
how to negotiate a raise; how to care for a houseplant; how to fix a squeaky door; how to paint a room;
how to change a light bulb safely; how to cook pasta; how to make pancakes; how to brew coffee;
how to plan a road trip; how to pack a suitcase; how to read a map; how to save for a holiday;
the Roman Empire; ancient Egypt; the Vikings; the printing press; the industrial revolution; the moon landing;
the Silk Road; the Renaissance; the invention of the telephone; the history of the bicycle; the Olympic Games;
the Amazon rainforest; the Sahara desert; the Arctic; coral reefs; volcanoes in Iceland; the Himalayas;
the Mississippi River; the city of Tokyo; the city of Paris; the city of London; the city of New York;
the city of Sydney; the city of Cairo; the city of Rio de Janeiro; the city of Toronto; the city of Mumbai;
a small fishing village; a mountain town; a desert oasis; a busy train station; an airport at night;
a lighthouse keeper; a beekeeper; a nurse on a night shift; a firefighter; a school teacher; a farmer at harvest;
a truck driver; a chef in a busy kitchen; a librarian; a carpenter; a pilot; an astronaut; a zookeeper;
elephants; octopuses; owls; wolves; dolphins; ants; horses; penguins; butterflies; crows; tortoises;
football; basketball; tennis; swimming; cycling; skiing; yoga; rock climbing; sailing; table tennis;
jazz; classical music; a rock concert; learning the piano; writing a song; a school choir; a street musician;
painting with watercolours; pottery; knitting; woodworking; origami; sewing a dress; building a model ship;
a detective story; a ghost story; a fairy tale about a brave mouse; a science-fiction colony on Mars;
a story about a robot that learns to laugh; a story about a lost key; a story about two rival bakers;
a story about a talking tree; a story about a storm at sea; a story about a time traveller;
friendship; kindness; honesty; patience; courage; gratitude; forgiveness; curiosity; ambition; loneliness;
a spreadsheet formula; sorting a list in Python; a bug in a loop; reading a CSV file; a website login page;
a database of books; a shopping list app; a command-line tool; unit tests; version control with git;
online privacy; strong passwords; a suspicious email; backing up photos; a slow laptop; video calls;
electric cars; solar panels; recycling plastic; reducing food waste; saving water; public transport;
a healthy breakfast; vegetarian dinners; food allergies; drinking enough water; a balanced diet; street food;
a chocolate cake; a vegetable soup; homemade pizza; a summer salad; Sunday roast; curry; sushi; tacos;
the Golden Gate Bridge; San Francisco; the Brooklyn Bridge; Tower Bridge in London; the Eiffel Tower;
the Statue of Liberty; the Great Wall of China; the pyramids of Giza; Niagara Falls; the Grand Canyon
"""

TEMPLATES = [
    "Tell me about {t}.",
    "Explain {t} to a ten-year-old.",
    "Write a short email to a friend about {t}.",
    "Write a formal email about {t}.",
    "Write a very short story about {t}.",
    "Write a dialogue between two people about {t}.",
    "Give me practical advice about {t}.",
    "List five things to know about {t}.",
    "Write a four-line poem about {t}.",
    "Write a short review of {t}.",
    "What are common mistakes people make with {t}?",
    "Describe {t} in a few sentences.",
]
TEMPLATES_PER_TOPIC = 3


def topics() -> list[str]:
    return [t.strip() for t in TOPICS.replace("\n", " ").split(";") if t.strip()]


def everyday_prompts(seed: int = 0) -> list[tuple[str, str]]:
    """(category, prompt) pairs: every topic with TEMPLATES_PER_TOPIC templates drawn with ``seed``."""
    rng = random.Random(seed)
    out = []
    for t in topics():
        for tpl in rng.sample(TEMPLATES, TEMPLATES_PER_TOPIC):
            out.append(("everyday2", tpl.format(t=t)))
    return out


if __name__ == "__main__":
    print(len(topics()), "topics,", len(everyday_prompts()), "prompts")
