"""Held-out natural prose for judging the default SAE (emails, stories, letters, reviews, notes, dialogue), written
by hand for this purpose and used by no training source. Run to (re)write natural_prose.jsonl."""
import json
from pathlib import Path

DOCS = [
("email", """Hi Maria,

Thanks again for lending me your camping stove last weekend. It worked perfectly, even when the wind picked up on Saturday night and we had to cook behind the car. I cleaned it as well as I could, but there is a small scorch mark on the base that was not there before, and I feel bad about it. If it bothers you, I am happy to replace it; just tell me the model and I will order one.

The trip itself was lovely. We walked up to the ridge on Sunday morning before the clouds came in, and the kids saw two deer near the path. Tom complained for the first hour and then refused to turn back when we suggested it, which is very much Tom.

Are you free on Thursday evening? I could drop the stove off and we could finally try that new noodle place on Harbour Street.

Best,
Helen"""),
("email", """Dear Mr. Okafor,

I am writing to follow up on my application for the position of assistant librarian, which I submitted on the fourth of this month. I understand that you receive many applications and that the selection process takes time, but I wanted to confirm that my documents arrived complete, since the online form showed an error when I attached my references.

In the meantime, I have finished the short course on digital archiving that I mentioned in my cover letter, and I would be glad to send you the certificate if it is useful. I remain very interested in the role and in the library's plans to extend its opening hours for students during the exam season.

Thank you for your time, and I look forward to hearing from you.

Yours sincerely,
Priya Raman"""),
("email", """Team,

Quick update on the office move. The movers will arrive at eight on Friday, so please have your desks cleared and your boxes labelled with your name and your new room number by Thursday at five. Anything without a label will go to the storage room on the ground floor, and you will have to carry it up yourself on Monday.

IT will disconnect the computers on Thursday afternoon. If you have files saved on your desktop rather than on the shared drive, copy them before lunch on Thursday. Do not try to move the monitors yourselves: last time two of them were dropped in the stairwell.

Coffee and pastries will be waiting in the new kitchen on Monday morning. Thanks for your patience.

Dana"""),
("story", """The old man at the end of the pier had been fishing for as long as anyone in the town could remember, and in all that time nobody had seen him catch a fish. Children dared each other to ask him why he kept coming. Most lost their nerve halfway down the boards.

One grey afternoon a girl named Ada walked all the way to the end and sat down beside him without saying anything. The line hung slack in the water. Gulls argued over a crust of bread. After a long while he reached into his coat, took out a second rod, and handed it to her.

They fished until the lamps came on along the harbour. Neither of them caught anything. When she stood up to go home, he nodded once, as if something important had been settled, and she found that she was already looking forward to the next day."""),
("story", """Jonah's bicycle had a squeak that sounded like a question. Every time the left pedal came round, it asked something, and by the end of the long road to school he had decided the bicycle was curious about everything: the cows, the broken fence, the bus that overtook them too closely every morning.

His father offered to oil the chain. Jonah refused. The squeak was company. On the day of the maths test, when his stomach felt full of stones, he rode slowly and let the bicycle ask its questions, and he answered them out loud, one by one, until he reached the gate and realised he had been practising his multiplication tables the whole way."""),
("story", """Nobody in the flat upstairs knew how to cook, which is why the smoke alarm went off every Sunday at noon. The neighbours had stopped complaining and started leaving recipes under the door instead: a simple soup, an omelette, a rice dish that could not possibly go wrong.

For three weeks the alarm stayed quiet. On the fourth Sunday a note appeared on the noticeboard in the hall. It said, in careful handwriting, that the people in flat six were grateful and would like everyone to come for lunch. Twelve people climbed the stairs that afternoon. The rice was a little burnt at the bottom, and nobody said a word about it."""),
("letter", """Dear Grandma,

I hope your knee is feeling better and that the physiotherapist is not making you do too many of those exercises with the elastic band. Mum says you have been walking to the corner shop again, which is brilliant news.

School is busy. We are studying the Second World War in history, and I interviewed Mr. Hughes from next door about what he remembers of the evacuation when he was a boy. He told me he was sent to a farm in Wales and cried for a week and then did not want to come home. I got full marks for the project, so thank you for suggesting him.

I am saving up for a new pair of football boots. I have nearly half. We are coming to visit at half term, and I promise I will beat you at cards this time.

Lots of love,
Sam"""),
("review", """I bought this kettle after my old one started leaking from the base, and after two months of daily use I am mostly happy with it. It boils a full litre in a little over two minutes, which is faster than I expected, and the lid opens with a button rather than having to be pulled, which matters when your hands are full.

The downsides are small but real. The water gauge is hard to read unless the kitchen light is on, and the handle gets warm near the top if you boil it twice in a row. It is also louder than the advert suggests; you will not be boiling water quietly at six in the morning without waking anyone.

For the price, it is a solid choice. I would buy it again, but I would not pay more for it."""),
("review", """The restaurant is tucked behind the market and easy to miss, but it is worth looking for. We went on a Tuesday evening and it was half full, which made for a relaxed meal. The waiter explained the menu without rushing us and recommended the lamb, which turned out to be the best dish of the night: tender, well seasoned, and served with a sharp yoghurt sauce.

The starters were less memorable. The bread was slightly stale and the soup needed salt. Dessert, a simple orange cake, made up for it. Prices are reasonable for the area, and the wine list is short but sensible. We will be back, probably on a quiet weeknight again."""),
("news", """The town council voted on Wednesday to close the main street to cars on Saturday mornings during the summer, after a six-month trial that shopkeepers had initially opposed. Footfall in the street rose by about a fifth during the trial, according to figures presented at the meeting, and several cafés that had feared losing delivery access said they had adapted by receiving goods earlier in the morning.

Not everyone was persuaded. Residents of the streets nearby complained of extra traffic and parking, and two councillors voted against the plan, arguing that the trial had not been long enough to judge its effects over a full year. The council said it would review the scheme again in the autumn and publish the data online."""),
("news", """Heavy rain over the weekend caused flooding in low-lying parts of the valley, cutting off several farms and closing the road between the two villages for most of Sunday. Emergency services rescued a driver whose car was caught by rising water near the old mill; he was taken to hospital as a precaution and released the same evening.

Volunteers spent Monday clearing mud from the primary school, which will remain closed until Wednesday. The river has now fallen below its warning level, but forecasters expect more rain later in the week, and residents have been advised to keep sandbags in place."""),
("diary", """Monday. Woke up too early again and lay there listening to the rain. Decided to get up and actually use the time, so I made proper coffee and wrote three pages before anyone else was awake. It felt like stealing an hour from the day.

Work was the usual mix: two meetings that could have been emails, one email that should have been a meeting. Lunch outside on the bench by the canal, even though it was cold. A heron stood on the opposite bank the whole time, perfectly still, and I envied it.

Evening: phoned Dad. He has decided to learn Italian at seventy-three and is very pleased with himself. Bed by ten, I hope."""),
("speech", """Good evening, everyone, and thank you for coming. When we started this choir six years ago, there were nine of us in a cold church hall, and two of the nine could not read music. Tonight there are forty-two of us on this stage, and I am fairly sure that at least three still cannot read music, which tells you something about how much heart can make up for.

I want to thank the parents who drove people to rehearsals, the school that lent us this hall, and our accompanist, who has played the same difficult passage for us perhaps four hundred times without once losing her temper in public. Most of all I want to thank the singers. You turned up on wet Tuesday nights when you were tired, and that is what music is made of. Enjoy the concert."""),
("dialogue", """"Are you sure this is the right way?" asked Leila, peering at the map.

"Fairly sure," said Ben. "The path goes along the stream and then climbs to the left after the bridge."

"We crossed a bridge twenty minutes ago."

"That was a plank. I mean a proper bridge."

"There is no proper bridge on this map, Ben. There is a dotted line and a small picture of a tent."

He took the map, turned it the other way round, and was quiet for a while. "Right," he said at last. "Good news. We are much closer to the campsite than I thought. Bad news: it is on the other side of the stream."

Leila sat down on a rock and started taking off her boots."""),
("instructions", """To repot a houseplant, first choose a pot only slightly larger than the old one; a much bigger pot holds water the roots cannot use, and the soil stays soggy. Water the plant a few hours before you start, so the root ball slides out in one piece.

Turn the plant on its side, support the base of the stems with one hand, and ease the pot off with the other. If the roots are circling tightly, loosen them gently with your fingers. Put a layer of fresh compost in the new pot, set the plant at the same depth as before, and fill around it, pressing lightly. Water well and keep the plant out of strong sun for a week while it settles."""),
("essay", """People often say that they have no time to read, but what they usually mean is that reading has lost the competition for their attention. A phone offers something new every few seconds; a novel asks you to wait. The difference is not in how many minutes we have but in how willing we are to be bored on the way to something better.

The habit can be rebuilt in small steps. Keep a book where the phone usually lives. Read ten pages before looking at any screen in the morning. Choose books you actually want to read rather than the ones you feel you ought to. After a few weeks the waiting stops feeling like waiting, and the hour before sleep starts to belong to you again."""),
("note", """Hi neighbours, this is a reminder that the building's water will be turned off on Tuesday between nine and one while the plumbers replace the main valve in the basement. Please fill a kettle and a few bottles the night before. The lift will keep working, but the laundry room will be closed all day.

If you have any problems or need help carrying water, knock on flat two or call the number on the noticeboard. Thanks for your understanding, and sorry for the short notice."""),
("story", """The lighthouse had been automatic for thirty years, but Mrs. Penrose still climbed its steps every evening to watch the lamp come on. She said it was to check that the machine remembered. The harbour master told her, kindly, that it would remember without her. She nodded, thanked him, and climbed the steps again the next evening.

In the great storm that winter, the power failed across the whole coast. For eleven minutes the lamp was dark, and in those eleven minutes a small fishing boat lost its way among the rocks. Then a light appeared at the top of the tower: an old oil lantern, swinging from side to side, held up by someone who had kept it polished all those years just in case."""),
]

if __name__ == "__main__":
    out = Path(__file__).with_name("natural_prose.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for kind, text in DOCS:
            f.write(json.dumps({"text": text, "source": f"heldout_{kind}"}) + "\n")
    print(len(DOCS), "documents,", sum(len(t.split()) for _, t in DOCS), "words ->", out)
