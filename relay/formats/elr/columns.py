"""Which CSV column holds which fact, in both layouts sites export (see docs: formats).

SimpleReport's PDI layout (``Patient_last_name``, ...) and the standard upload layout
(``patient_last_name``, ...) name the same facts differently; each fact lists its column names, the
first present wins (exact name first, then ignoring case). The lookup is worked out once per header.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

ALIASES: dict[str, tuple[str, ...]] = {
    "patient_id": ("Patient_ID", "patient_id"),
    "last": ("Patient_last_name", "patient_last_name"),
    "first": ("Patient_first_name", "patient_first_name"),
    "middle": ("Patient_middle_name", "patient_middle_name"),
    "suffix": ("Patient_suffix", "patient_suffix"),
    "tribal": ("Patient_tribal_affiliation", "patient_tribal_affiliation"),
    "race": ("Patient_race", "patient_race"),
    "dob": ("Patient_DOB", "patient_dob"),
    "sex": ("Patient_gender", "patient_gender"),
    "ethnicity": ("Patient_ethnicity", "patient_ethnicity"),
    "street": ("Patient_street", "patient_street"),
    "street2": ("Patient_street_2", "patient_street2"),
    "city": ("Patient_city", "patient_city"),
    "state": ("Patient_state", "patient_state"),
    "zip": ("Patient_zip_code", "patient_zip_code"),
    "county": ("Patient_county", "patient_county"),
    "country": ("Patient_country", "patient_country"),
    "phone": ("Patient_phone_number", "patient_phone_number"),
    "email": ("Patient_email", "patient_email"),
    "test_ordered": ("Ordered_test_code", "test_ordered_code"),
    "test_performed": ("Test_performed_code", "test_performed_code"),
    "site": ("Specimen_source_site_code", "specimen_source_site_code"),
    "specimen": ("Specimen_type_code", "specimen_type"),
    "device": ("Equipment_Model_ID", "equipment_model_name", "Test_Kit_Name_ID"),
    "result": ("Test_result_code", "test_result"),
    "status": ("Test_result_status", "test_result_status", "Observation_result_status"),
    "onset": ("Illness_onset_date", "illness_onset_date"),
    "collected": ("Specimen_collection_date_time", "specimen_collection_date"),
    "ordered_at": ("Order_test_date", "order_test_date"),
    "tested_at": ("Test_date", "test_result_date"),
    "released_at": ("Date_result_released", "date_result_released"),
    "received_at": ("Testing_lab_specimen_received_date", "testing_lab_specimen_received_date"),
    "employed": ("Employed_in_healthcare", "employed_in_healthcare"),
    "congregate": ("Resident_congregate_setting", "resident_congregate_setting"),
    "first_test": ("First_test", "first_test"),
    "symptomatic": ("Symptomatic_for_disease", "symptomatic_for_disease"),
    "pregnant": ("Pregnant", "pregnant"),
    "hospitalized": ("Hospitalized", "hospitalized"),
    "icu": ("ICU", "icu"),
    "lab_name": ("Testing_lab_name", "testing_lab_name"),
    "lab_clia": ("Testing_lab_CLIA", "testing_lab_clia"),
    "lab_street": ("Testing_lab_street", "testing_lab_street"),
    "lab_street2": ("Testing_lab_street_2", "testing_lab_street2"),
    "lab_city": ("Testing_lab_city", "testing_lab_city"),
    "lab_state": ("Testing_lab_state", "testing_lab_state"),
    "lab_zip": ("Testing_lab_zip_code", "testing_lab_zip_code"),
    "lab_county": ("Testing_lab_county", "testing_lab_county"),
    "lab_phone": ("Testing_lab_phone_number", "testing_lab_phone_number"),
    "fac_name": ("Ordering_facility_name", "ordering_facility_name"),
    "fac_street": ("Ordering_facility_street", "ordering_facility_street"),
    "fac_street2": ("Ordering_facility_street_2", "ordering_facility_street2"),
    "fac_city": ("Ordering_facility_city", "ordering_facility_city"),
    "fac_state": ("Ordering_facility_state", "ordering_facility_state"),
    "fac_zip": ("Ordering_facility_zip_code", "ordering_facility_zip_code"),
    "fac_county": ("Ordering_facility_county", "ordering_facility_county"),
    "fac_phone": ("Ordering_facility_phone_number", "ordering_facility_phone_number"),
    "fac_email": ("Ordering_facility_email", "ordering_facility_email"),
    "prov_id": ("Ordering_provider_ID", "ordering_provider_id"),
    "prov_last": ("Ordering_provider_last_name", "ordering_provider_last_name"),
    "prov_first": ("Ordering_provider_first_name", "ordering_provider_first_name"),
    "prov_middle": ("Ordering_provider_middle_name", "ordering_provider_middle_name"),
    "prov_suffix": ("Ordering_provider_suffix", "ordering_provider_suffix"),
    "prov_street": ("Ordering_provider_street", "ordering_provider_street"),
    "prov_street2": ("Ordering_provider_street_2", "ordering_provider_street2"),
    "prov_city": ("Ordering_provider_city", "ordering_provider_city"),
    "prov_state": ("Ordering_provider_state", "ordering_provider_state"),
    "prov_zip": ("Ordering_provider_zip_code", "ordering_provider_zip_code"),
    "prov_county": ("Ordering_provider_county", "ordering_provider_county"),
    "prov_phone": ("Ordering_provider_phone_number", "ordering_provider_phone_number"),
}


class Columns:
    """Fact -> (column index, column name) for one header; facts absent from it map to None."""

    def __init__(self, header: Sequence[str]) -> None:
        names = [name.strip() for name in header]
        exact = {name: i for i, name in enumerate(names)}
        folded: dict[str, int] = {}
        for i, name in enumerate(names):
            folded.setdefault(name.casefold(), i)
        self.where: dict[str, tuple[int, str] | None] = {}
        for fact, candidates in ALIASES.items():
            found: tuple[int, str] | None = None
            for name in candidates:
                if name in exact:
                    found = (exact[name], name)
                    break
            if found is None:
                for name in candidates:
                    if name.casefold() in folded:
                        index = folded[name.casefold()]
                        found = (index, names[index])
                        break
            self.where[fact] = found
        self.width = len(names)

        self._facts = tuple(fact for fact, found in self.where.items() if found is not None)
        indices = [found[0] for found in self.where.values() if found is not None]
        self._pick = (lambda values: ()) if not indices else (
            (lambda values: (values[indices[0]],)) if len(indices) == 1 else itemgetter(*indices))

    def view(self, values: Sequence[str]) -> RowView:
        view = RowView(zip(self._facts, map(str.strip, self._pick(values))))
        view.columns = self
        return view

    def name(self, fact: str) -> str:
        found = self.where[fact]
        return found[1] if found is not None else ALIASES[fact][0]


class RowView(dict[str, str]):
    """One row's values by fact, trimmed ('' for a fact the header lacks); ``name`` gives the column
    a fact came from, for reasons."""

    columns: Columns

    def __missing__(self, fact: str) -> str:
        return ""

    def name(self, fact: str) -> str:
        return self.columns.name(fact)
