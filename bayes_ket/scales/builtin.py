"""The eight scales that ship with bayes_ket, with their published ranges, severity bands,
response and remission thresholds and items.

Every scale is "higher is worse". Response is at least 50 % improvement (``response =
0.5``; ``percent_improvement``) for every scale that has one: a convention of depression
and anxiety trials (e.g. STAR*D, Rush et al. 2006), not part of any scale's definition.
Remission thresholds are conventions too, each cited below; pass ``threshold=`` to
``remitted`` (or ``remission_threshold=`` to a fit) to use another.

madrs (MADRS, Montgomery & Asberg 1979): 10 items 0-6, total 0-60. Bands 0-6 none,
    7-19 mild, 20-34 moderate, 35-60 severe (Snaith et al. 1986). Remission <= 10
    (Zimmerman et al. 2004; Hawley et al. 2002), the choice of most clinical ketamine
    studies; the pooled IPD meta-analysis of ketamine used <= 9.
hrsd17 (HRSD-17 / HAM-D 17, Hamilton 1960, 1967): 17 items, nine scored 0-4 and eight
    0-2, total 0-52. Bands 0-7 none, 8-16 mild, 17-23 moderate, 24-52 severe (Zimmerman
    et al. 2013). Remission <= 7 (Frank et al. 1991 consensus definitions).
gad7 (GAD-7, Spitzer et al. 2006): 7 items 0-3, total 0-21. Bands at the published
    cut-offs 5 / 10 / 15: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe. Remission
    <= 4 (below the "mild" cut-off; a convention).
bdi2 (BDI-II, Beck, Steer & Brown 1996): 21 self-rated items 0-3, total 0-63. Bands
    0-13 minimal, 14-19 mild, 20-28 moderate, 29-63 severe (the manual). Remission <= 13
    (the top of the minimal band) is the common choice; some studies use lower cut-offs
    such as <= 12 or <= 10.
qids_sr16 (QIDS-SR16, Rush et al. 2003): 16 self-rated items 0-3, total 0-27, NOT the
    item sum: the highest of items 1-4 (sleep), item 5, the highest of items 6-9
    (appetite/weight), items 10-14 and the highest of items 15-16 (psychomotor), nine
    domains of 0-3. Bands 0-5 none, 6-10 mild, 11-15 moderate, 16-20 severe, 21-27 very
    severe (Rush et al. 2003). Remission <= 5 (Rush et al. 2006, STAR*D).
phq9 (PHQ-9, Kroenke et al. 2001): 9 items 0-3, total 0-27. Bands at the published
    cut-offs 5 / 10 / 15 / 20: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately
    severe, 20-27 severe. Remission: a score below 5, i.e. <= 4 (Kroenke & Spitzer 2002;
    a convention built on the "minimal" band).
hama (HAM-A, Hamilton 1959): 14 items 0-4, total 0-56. Bands 0-7 no or minimal
    anxiety, 8-14 mild, 15-23 moderate, 24-56 severe (Matza et al. 2010). Remission <= 7
    (the no/minimal band of Matza et al. 2010; a convention).
cgis (CGI-S, Guy 1976): one rating 1-7: 1 normal, not at all ill; 2 borderline mentally
    ill; 3 mildly; 4 moderately; 5 markedly; 6 severely ill; 7 among the most extremely
    ill. Canonical column ``cgis_total``. Remission <= 2 ("borderline or not ill"; a
    convention). No response fraction: response is usually read from the CGI-I, a
    different scale. Its floor is 1, so percent improvement is 100 (baseline - score) /
    (baseline - 1).

References
----------
Beck AT, Steer RA, Brown GK (1996). Manual for the Beck Depression Inventory-II.
    San Antonio, TX: Psychological Corporation.
Frank E, Prien RF, Jarrett RB, et al. (1991). Conceptualization and rationale for consensus
    definitions of terms in major depressive disorder. Arch Gen Psychiatry 48:851-855.
Guy W (1976). ECDEU Assessment Manual for Psychopharmacology (Clinical Global Impressions,
    pp. 217-222). Rockville, MD: US Department of Health, Education, and Welfare.
Hamilton M (1959). The assessment of anxiety states by rating. Br J Med Psychol 32:50-55.
Hamilton M (1960). A rating scale for depression. J Neurol Neurosurg Psychiatry 23:56-62.
Hamilton M (1967). Development of a rating scale for primary depressive illness.
    Br J Soc Clin Psychol 6:278-296.
Hawley CJ, Gale TM, Sivakumaran T (2002). Defining remission by cut off score on the MADRS:
    selecting the optimal value. J Affect Disord 72:177-184.
Kroenke K, Spitzer RL, Williams JBW (2001). The PHQ-9: validity of a brief depression
    severity measure. J Gen Intern Med 16:606-613.
Kroenke K, Spitzer RL (2002). The PHQ-9: a new depression diagnostic and severity measure.
    Psychiatr Ann 32:509-515.
Matza LS, Morlock R, Sexton C, et al. (2010). Identifying HAM-A cutoffs for mild, moderate,
    and severe generalized anxiety disorder. Int J Methods Psychiatr Res 19:223-232.
Montgomery SA, Asberg M (1979). A new depression scale designed to be sensitive to change.
    Br J Psychiatry 134:382-389.
Rush AJ, Trivedi MH, Ibrahim HM, et al. (2003). The 16-item Quick Inventory of Depressive
    Symptomatology (QIDS), clinician rating (QIDS-C), and self-report (QIDS-SR).
    Biol Psychiatry 54:573-583.
Rush AJ, Trivedi MH, Wisniewski SR, et al. (2006). Acute and longer-term outcomes in
    depressed outpatients requiring one or several treatment steps: a STAR*D report.
    Am J Psychiatry 163:1905-1917.
Snaith RP, Harrop FM, Newby DA, Teale C (1986). Grade scores of the Montgomery-Asberg
    Depression and the Clinical Anxiety Scales. Br J Psychiatry 148:599-601.
Spitzer RL, Kroenke K, Williams JBW, Lowe B (2006). A brief measure for assessing
    generalized anxiety disorder: the GAD-7. Arch Intern Med 166:1092-1097.
Zimmerman M, Posternak MA, Chelminski I (2004). Defining remission on the Montgomery-Asberg
    Depression Rating Scale. J Clin Psychiatry 65:163-168.
Zimmerman M, Martinez JH, Young D, et al. (2013). Severity classification on the Hamilton
    Depression Rating Scale. J Affect Disord 150:384-388.
"""

from __future__ import annotations

from .registry import Scale, _add_builtin

#: the ten MADRS items, in the order of the columns madrs_1 .. madrs_10
MADRS_ITEMS = (
    "apparent_sadness",
    "reported_sadness",
    "inner_tension",
    "reduced_sleep",
    "reduced_appetite",
    "concentration_difficulties",
    "lassitude",
    "inability_to_feel",
    "pessimistic_thoughts",
    "suicidal_thoughts",
)


def _items(names, lo, hi):
    return tuple((n, (lo, hi)) for n in names)


MADRS = _add_builtin(Scale(
    name="madrs",
    range=(0, 60),
    bands=(("none", 0, 6), ("mild", 7, 19), ("moderate", 20, 34), ("severe", 35, 60)),
    response=0.5,
    remission=10,
    items=_items(MADRS_ITEMS, 0, 6),
    total_from_items="sum",
    label="MADRS total",
    source=(
        "Montgomery & Asberg 1979 (items, range); bands Snaith et al. 1986; remission <= 10 a convention "
        "(Zimmerman et al. 2004; Hawley et al. 2002; <= 9 in the ketamine IPD meta-analysis)"
    ),
))

HRSD17 = _add_builtin(Scale(
    name="hrsd17",
    range=(0, 52),
    bands=(("none", 0, 7), ("mild", 8, 16), ("moderate", 17, 23), ("severe", 24, 52)),
    response=0.5,
    remission=7,
    items=(
        ("depressed_mood", (0, 4)), ("guilt", (0, 4)), ("suicide", (0, 4)), ("insomnia_early", (0, 2)),
        ("insomnia_middle", (0, 2)), ("insomnia_late", (0, 2)), ("work_and_activities", (0, 4)),
        ("retardation", (0, 4)), ("agitation", (0, 4)), ("anxiety_psychic", (0, 4)), ("anxiety_somatic", (0, 4)),
        ("somatic_gastrointestinal", (0, 2)), ("somatic_general", (0, 2)), ("genital_symptoms", (0, 2)),
        ("hypochondriasis", (0, 4)), ("weight_loss", (0, 2)), ("insight", (0, 2)),
    ),
    total_from_items="sum",
    label="HRSD-17 total",
    source="Hamilton 1960, 1967 (items, range); bands Zimmerman et al. 2013; remission <= 7 Frank et al. 1991 (a convention)",
))

GAD7 = _add_builtin(Scale(
    name="gad7",
    range=(0, 21),
    bands=(("minimal", 0, 4), ("mild", 5, 9), ("moderate", 10, 14), ("severe", 15, 21)),
    response=0.5,
    remission=4,
    items=_items(("nervous", "uncontrollable_worry", "excessive_worry", "trouble_relaxing", "restlessness",
                  "irritability", "fear_of_awful_event"), 0, 3),
    total_from_items="sum",
    label="GAD-7 total",
    source="Spitzer et al. 2006 (items, range, cut-offs 5/10/15); remission <= 4 a convention (below the mild cut-off)",
))

BDI2 = _add_builtin(Scale(
    name="bdi2",
    range=(0, 63),
    bands=(("minimal", 0, 13), ("mild", 14, 19), ("moderate", 20, 28), ("severe", 29, 63)),
    response=0.5,
    remission=13,
    items=_items((
        "sadness", "pessimism", "past_failure", "loss_of_pleasure", "guilty_feelings", "punishment_feelings",
        "self_dislike", "self_criticalness", "suicidal_thoughts", "crying", "agitation", "loss_of_interest",
        "indecisiveness", "worthlessness", "loss_of_energy", "changes_in_sleep", "irritability",
        "changes_in_appetite", "concentration_difficulty", "tiredness_or_fatigue", "loss_of_interest_in_sex",
    ), 0, 3),
    total_from_items="sum",
    label="BDI-II total",
    source="Beck, Steer & Brown 1996 (items, range, bands); remission <= 13 a convention (top of the minimal band)",
))

QIDS_SR16 = _add_builtin(Scale(
    name="qids_sr16",
    range=(0, 27),
    bands=(("none", 0, 5), ("mild", 6, 10), ("moderate", 11, 15), ("severe", 16, 20), ("very_severe", 21, 27)),
    response=0.5,
    remission=5,
    items=_items((
        "falling_asleep", "sleep_during_night", "waking_too_early", "sleeping_too_much", "feeling_sad",
        "decreased_appetite", "increased_appetite", "decreased_weight", "increased_weight", "concentration",
        "view_of_myself", "thoughts_of_death_or_suicide", "general_interest", "energy_level",
        "feeling_slowed_down", "feeling_restless",
    ), 0, 3),
    total_from_items=None,  # nine domains: maxima of items 1-4, 6-9, 15-16 plus items 5, 10-14
    label="QIDS-SR16 total",
    source="Rush et al. 2003 (items, scoring, range, bands); remission <= 5 Rush et al. 2006 (STAR*D)",
))

PHQ9 = _add_builtin(Scale(
    name="phq9",
    range=(0, 27),
    bands=(("minimal", 0, 4), ("mild", 5, 9), ("moderate", 10, 14), ("moderately_severe", 15, 19),
           ("severe", 20, 27)),
    response=0.5,
    remission=4,
    items=_items(("anhedonia", "depressed_mood", "sleep", "fatigue", "appetite", "worthlessness", "concentration",
                  "psychomotor", "suicidal_thoughts"), 0, 3),
    total_from_items="sum",
    label="PHQ-9 total",
    source="Kroenke et al. 2001 (items, range, cut-offs 5/10/15/20); remission < 5 Kroenke & Spitzer 2002 (a convention)",
))

HAMA = _add_builtin(Scale(
    name="hama",
    range=(0, 56),
    bands=(("minimal", 0, 7), ("mild", 8, 14), ("moderate", 15, 23), ("severe", 24, 56)),
    response=0.5,
    remission=7,
    items=_items((
        "anxious_mood", "tension", "fears", "insomnia", "intellectual", "depressed_mood", "somatic_muscular",
        "somatic_sensory", "cardiovascular", "respiratory", "gastrointestinal", "genitourinary", "autonomic",
        "behaviour_at_interview",
    ), 0, 4),
    total_from_items="sum",
    label="HAM-A total",
    source="Hamilton 1959 (items, range); bands and remission <= 7 Matza et al. 2010 (remission a convention)",
))

CGIS = _add_builtin(Scale(
    name="cgis",
    range=(1, 7),
    bands=(("normal", 1, 1), ("borderline", 2, 2), ("mild", 3, 3), ("moderate", 4, 4), ("marked", 5, 5),
           ("severe", 6, 6), ("extreme", 7, 7)),
    response=None,
    remission=2,
    label="CGI-S",
    source="Guy 1976 (the seven levels); remission <= 2 'borderline or not ill' a convention; no response fraction",
))
