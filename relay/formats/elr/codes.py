"""Code systems and the codes an ELR message uses, with their display names.

Facts from the HL7 v2.5.1 ELR implementation guide and the HL7 tables it names (0001 sex, 0005
race, 0189 ethnic group, 0085/0123 result status, 0136 yes/no, 0078 abnormal flags), LOINC and
SNOMED CT. Text values real exports carry ("Not Detected", "Nasal Swab", "female") are mapped to
their codes; a value that is neither a known word nor a code of the right shape is refused by the
caller, with the column named.
"""

from __future__ import annotations

import re

# Names of coding systems (HL7 table 0396). SNOMED CT as "SNM", as SimpleReport sends it to APHL AIMS.
LOINC = "LN"
SNOMED = "SNM"
HL7_SEX = "HL70001"
HL7_RACE = "HL70005"
HL7_ETHNIC_GROUP = "HL70189"
HL7_YES_NO = "HL70136"
NULL_FLAVOR = "NULLFL"

# Assigning authorities (OIDs of the naming systems).
CLIA_OID = "2.16.840.1.113883.4.7"
NPI_OID = "2.16.840.1.113883.4.6"

LOINC_SHAPE = re.compile(r"\d{1,7}-\d")
SNOMED_SHAPE = re.compile(r"\d{6,18}")
CLIA_SHAPE = re.compile(r"\d{2}[A-Z]\d{7}")
NPI_SHAPE = re.compile(r"\d{10}")

LOINC_NAMES = {
    "94558-4": "SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by Rapid immunoassay",
    "94534-5": "SARS-CoV-2 (COVID-19) RdRp gene [Presence] in Respiratory specimen by NAA with probe detection",
    "94500-6": "SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA with probe detection",
    "95406-5": "SARS-CoV-2 (COVID-19) RNA [Presence] in Nose by NAA with probe detection",
}

# Test results (SNOMED CT) and their abnormal flag (HL7 table 0078: A abnormal, N normal).
RESULT_NAMES = {
    "260373001": "Detected",
    "260415000": "Not detected",
    "10828004": "Positive",
    "260385009": "Negative",
    "419984006": "Inconclusive",
    "455371000124106": "Invalid result",
    "125154007": "Specimen unsatisfactory for evaluation",
    "720735008": "Presumptive positive",
}
ABNORMAL = {"260373001": "A", "10828004": "A", "720735008": "A", "260415000": "N", "260385009": "N"}
RESULT_WORDS = {
    "detected": "260373001",
    "not detected": "260415000",
    "undetected": "260415000",
    "positive": "10828004",
    "negative": "260385009",
    "inconclusive": "419984006",
    "invalid": "455371000124106",
    "invalid result": "455371000124106",
    "presumptive positive": "720735008",
}

SPECIMEN_NAMES = {
    "445297001": "Swab of internal nose",
    "258500001": "Nasopharyngeal swab",
    "697989009": "Anterior nares swab",
    "871810001": "Mid-turbinate nasal swab",
    "258529004": "Throat swab",
    "119342007": "Saliva specimen",
    "258411007": "Nasopharyngeal aspirate",
    "119297000": "Blood specimen",
    "122555007": "Venous blood specimen",
}
SPECIMEN_WORDS = {
    "nasal swab": "445297001",
    "swab of internal nose": "445297001",
    "nasopharyngeal swab": "258500001",
    "anterior nares swab": "697989009",
    "anterior nasal swab": "697989009",
    "mid-turbinate nasal swab": "871810001",
    "throat swab": "258529004",
    "oropharyngeal swab": "258529004",
    "saliva": "119342007",
    "saliva specimen": "119342007",
    "nasopharyngeal aspirate": "258411007",
    "blood": "119297000",
    "whole blood": "119297000",
    "venous blood": "122555007",
}

# HL7 table 0001 (administrative sex).
SEX = {"m": "M", "male": "M", "f": "F", "female": "F", "o": "O", "other": "O", "a": "A", "ambiguous": "A",
       "u": "U", "unknown": "U", "unk": "U", "n": "N", "not applicable": "N"}

# HL7 table 0005 (CDC race codes); UNK / ASKU are null flavors.
RACE_NAMES = {
    "1002-5": "American Indian or Alaska Native",
    "2028-9": "Asian",
    "2054-5": "Black or African American",
    "2076-8": "Native Hawaiian or Other Pacific Islander",
    "2106-3": "White",
    "2131-1": "Other Race",
}
RACE_WORDS = {
    "native": "1002-5", "american indian or alaska native": "1002-5",
    "asian": "2028-9",
    "black": "2054-5", "black or african american": "2054-5",
    "pacific": "2076-8", "native hawaiian or other pacific islander": "2076-8",
    "white": "2106-3",
    "other": "2131-1", "other race": "2131-1",
}
NULL_FLAVORS = {"UNK": "Unknown", "ASKU": "Asked, but unknown"}
NULL_WORDS = {"unk": "UNK", "unknown": "UNK", "asku": "ASKU", "refused": "ASKU", "asked, but unknown": "ASKU"}

# HL7 table 0189 (ethnic group).
ETHNICITY_NAMES = {"H": "Hispanic or Latino", "N": "Not Hispanic or Latino", "U": "Unknown"}
ETHNICITY_WORDS = {"h": "H", "hispanic": "H", "hispanic or latino": "H", "2135-2": "H",
                   "n": "N", "not hispanic": "N", "not hispanic or latino": "N", "non-hispanic": "N", "2186-5": "N",
                   "u": "U", "unk": "U", "unknown": "U", "refused": "U"}

# Result status (OBX-11, table 0085; OBR-25, table 0123).
RESULT_STATUS = {"f": "F", "final": "F", "c": "C", "corrected": "C", "p": "P", "preliminary": "P"}

YES_NO_WORDS = {"y": "Y", "yes": "Y", "true": "Y", "n": "N", "no": "N", "false": "N",
                "unk": "UNK", "u": "UNK", "unknown": "UNK"}
YES_NO_NAMES = {"Y": "Yes", "N": "No", "UNK": "Unknown"}

PREGNANCY_NAMES = {"77386006": "Pregnant", "60001007": "Not pregnant", "261665006": "Unknown"}
PREGNANCY_WORDS = {"y": "77386006", "yes": "77386006", "pregnant": "77386006",
                   "n": "60001007", "no": "60001007", "not pregnant": "60001007",
                   "u": "261665006", "unk": "261665006", "unknown": "261665006"}

# Ask-at-order-entry questions (LOINC) as public health asks them with a COVID-19 result.
AOE_EMPLOYED_IN_HEALTHCARE = ("95418-0", "Employed in a healthcare setting")
AOE_FIRST_TEST = ("95417-2", "First test for condition of interest")
AOE_SYMPTOMATIC = ("95419-8", "Has symptoms related to condition of interest")
AOE_SYMPTOM_ONSET = ("65222-2", "Date and time of symptom onset")
AOE_RESIDENT_CONGREGATE = ("95421-4", "Resides in a congregate care setting")
AOE_PREGNANT = ("82810-3", "Pregnancy status")
AOE_HOSPITALIZED = ("77974-4", "Inpatient hospital admission")
AOE_ICU = ("95420-6", "Admitted to intensive care unit for condition of interest")
