"""Task forms: JSON Schema + UI schema, loaded, validated and read from posts.

A form is a JSON Schema (Draft 2020-12) plus a react-jsonschema-form style UI schema,
rendered on the server (``web/formview.py``) and validated here with ``jsonschema``.
Schema extensions: ``x-catalog`` (options from an editable catalog, see
:func:`resolve_catalogs`), ``x-lookup`` (integer id chosen by searching), ``x-prefill``
(filled by the caller; ignored here), ``x-attachments`` (list of ``{id, nome, tamanho}``
refs to uploaded files), ``readOnly``; formats ``email``, ``telefone``, ``protocolo``, ``cpf``.

Sizes come first (:mod:`engine.forms.bounds`): every string and array is measured against its
``maxLength``/``maxItems`` before any other keyword runs; one that declares none gets the
defaults of :mod:`engine.limits` (10,000 characters, 500 items). Control characters are refused
everywhere, tab and line breaks outside text areas.

Posted form protocol (what :func:`parse_submission` reads)
-----------------------------------------------------------
Input names, for a field ``f``:

- ``f``                  the value (text, select, radio, checkbox, lookup's chosen id);
- ``f__q``               a lookup's search text;
- ``f__new__<col>``      a table's "new row" inputs;
- ``f__<i>__<col>``      a table's existing rows (hidden inputs; ``i`` is the 0-based row);
- ``f__upload``          a files field's ``<input type=file multiple>`` (read by the web layer).

Field names match ``^[A-Za-z][A-Za-z0-9_]*$`` without ``__``, so these names never collide.

The clicked submit button is ``name="_action"``; its value is one of:

=========================  ==========================================================
``next`` / ``back``        save the step and move to the next / previous step
``save``                   save the step, stay on it
``submit``                 finish the task (the whole form is validated)
``goto:<step_id>``         save the step and open another one (wizard nav, "Alterar")
``add_row:<field>``        validate the table's new row and append it (normalised)
``remove_row:<field>:<i>`` drop row ``i`` of the table
``remove_file:<id>``       drop attachment ``id`` from the step's files field
``upload:<field>``         store the files chosen in ``<field>__upload``, stay
``lookup:<field>``         search ``<field>__q`` and show the matches, stay
=========================  ==========================================================

A missing or malformed ``_action`` (implicit submission, tampering) reads as ``save``: it
never moves the wizard. Uploads should be stored on *every* action, so files chosen before
"Avançar" are not lost. A non-empty new table row is also added on every action; when it
is invalid, :attr:`Submission.errors` holds the message and :attr:`Submission.pending` the
typed text, and the caller should re-render the step instead of moving on.
"""

from __future__ import annotations

from engine.catalogs import CatalogOption as CatalogOption
from engine.forms.annotations import (
    attachment_fields as attachment_fields,
)
from engine.forms.annotations import (
    attachment_ids as attachment_ids,
)
from engine.forms.annotations import (
    instance_values as instance_values,
)
from engine.forms.annotations import (
    internal_fields as internal_fields,
)
from engine.forms.annotations import (
    is_choice as is_choice,
)
from engine.forms.annotations import (
    lookup_fields as lookup_fields,
)
from engine.forms.annotations import (
    without_internal as without_internal,
)
from engine.forms.display import (
    diff as diff,
)
from engine.forms.display import (
    display_items as display_items,
)
from engine.forms.display import (
    display_value as display_value,
)
from engine.forms.display import (
    format_filesize as format_filesize,
)
from engine.forms.loading import (
    load_form as load_form,
)
from engine.forms.loading import (
    load_form_from_texts as load_form_from_texts,
)
from engine.forms.structure import (
    all_fields as all_fields,
)
from engine.forms.structure import (
    catalog_fields as catalog_fields,
)
from engine.forms.structure import (
    field_order as field_order,
)
from engine.forms.structure import (
    is_readonly as is_readonly,
)
from engine.forms.structure import (
    options_of as options_of,
)
from engine.forms.structure import (
    resolve_catalogs as resolve_catalogs,
)
from engine.forms.structure import (
    step_of as step_of,
)
from engine.forms.structure import (
    steps as steps,
)
from engine.forms.structure import (
    steps_with_errors as steps_with_errors,
)
from engine.forms.structure import (
    title_of as title_of,
)
from engine.forms.structure import (
    widget_of as widget_of,
)
from engine.forms.submission import (
    check_new_row as check_new_row,
)
from engine.forms.submission import (
    parse_action as parse_action,
)
from engine.forms.submission import (
    parse_submission as parse_submission,
)
from engine.forms.types import (
    ACTION_FIELD as ACTION_FIELD,
)
from engine.forms.types import (
    FIELD_NAME as FIELD_NAME,
)
from engine.forms.types import (
    NOT_INFORMED as NOT_INFORMED,
)
from engine.forms.types import (
    WIDGETS as WIDGETS,
)
from engine.forms.types import (
    Action as Action,
)
from engine.forms.types import (
    FieldChange as FieldChange,
)
from engine.forms.types import (
    FormDefinition as FormDefinition,
)
from engine.forms.types import (
    Lookup as Lookup,
)
from engine.forms.types import (
    Step as Step,
)
from engine.forms.types import (
    Submission as Submission,
)
from engine.forms.types import (
    new_row_input as new_row_input,
)
from engine.forms.types import (
    query_input as query_input,
)
from engine.forms.types import (
    row_input as row_input,
)
from engine.forms.types import (
    upload_input as upload_input,
)
from engine.forms.validation import (
    FORMAT_CHECKER as FORMAT_CHECKER,
)
from engine.forms.validation import (
    FORMAT_MESSAGES as FORMAT_MESSAGES,
)
from engine.forms.validation import (
    NORMALIZERS as NORMALIZERS,
)
from engine.forms.validation import (
    is_valid_email as is_valid_email,
)
from engine.forms.validation import (
    validate as validate,
)
