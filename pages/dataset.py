"""Dataset page: choose a bundled dataset, upload a zip / folder, or give a path; preview images per class."""

import streamlit as st

import app_support as shared
from transfer_core.data import DatasetError, list_datasets
from transfer_core.data.checks import class_counts, dataset_warnings
from transfer_core.uploads import DATASET_SUFFIXES, UploadError, save_upload, zip_of_files

PREVIEW_PER_CLASS = 6
MAX_PREVIEW_CLASSES = 12
SOURCES = {"bundled": "Bundled dataset", "upload": "Upload a zip or CSV", "folder": "Upload a folder",
           "path": "A path on this machine"}

st.title("Dataset")
st.write("The labelled images you want a backbone for. Ranking needs at least two classes; a few hundred images "
         "give stable scores. The embedded default (textile-defect photos) is used until you choose another.")


def use(label: str, make_spec) -> None:
    """Switch to the dataset ``make_spec()`` describes if it loads; otherwise say why and keep the current one."""
    try:
        spec = make_spec()
        shared.load_spec(spec)
    except (DatasetError, UploadError) as error:
        st.error(f"Could not use {label}: {error}")
        return
    st.session_state[shared.DATASET_SPEC] = spec
    st.success(f"Now using {spec.label}.")


def limit_input(key: str, help_text: str):
    return st.number_input("Images to use (empty: all, or the dataset's default sample)", min_value=10, step=50,
                           value=None, key=key, help=help_text)


source = st.segmented_control("Where are your images?", list(SOURCES), format_func=SOURCES.get, default="bundled",
                              required=True, key="dataset_source", persist_state="session")

if source == "bundled":
    bundled = dict(list_datasets())
    with st.form("dataset_bundled_form"):
        choice = st.selectbox("Bundled dataset", list(bundled), format_func=lambda key: f"{key} — {bundled[key]}",
                              key="dataset_bundled_id")
        limit = limit_input("dataset_bundled_limit", "A stratified, seeded sample of this many images.")
        if st.form_submit_button("Use this dataset", type="primary", key="dataset_bundled_use"):
            use(choice, lambda: shared.DatasetSpec(choice, limit, choice))
elif source == "upload":
    with st.form("dataset_upload_form"):
        upload = st.file_uploader("A .zip of a folder with one sub-folder per class, or a .csv with columns "
                                  "path,label (or path,target…) whose paths exist on this machine",
                                  type=[suffix.lstrip(".") for suffix in DATASET_SUFFIXES], key="dataset_upload")
        limit = limit_input("dataset_upload_limit", "A stratified, seeded sample of this many images.")
        if st.form_submit_button("Use this upload", type="primary", key="dataset_upload_use"):
            if upload is None:
                st.warning("Choose a file first.")
            else:
                use(upload.name, lambda: shared.DatasetSpec(str(save_upload(upload.name, upload.getvalue())), limit,
                                                            upload.name))
elif source == "folder":
    with st.form("dataset_folder_form"):
        files = st.file_uploader("A folder with one sub-folder of images per class (e.g. DATA/cat/1.jpg)",
                                 accept_multiple_files="directory", key="dataset_folder")
        limit = limit_input("dataset_folder_limit", "A stratified, seeded sample of this many images.")
        if st.form_submit_button("Use this folder", type="primary", key="dataset_folder_use"):
            folder = files[0].name.replace("\\", "/").split("/")[0] if files else "folder"

            def packed_folder() -> shared.DatasetSpec:
                packed = zip_of_files((file.name, file.getvalue()) for file in files or [])
                return shared.DatasetSpec(str(save_upload(f"{folder}.zip", packed)), limit, f"folder {folder}")

            use(f"the folder {folder}", packed_folder)
else:
    with st.form("dataset_path_form"):
        path = st.text_input("Folder (one sub-folder per class), .zip or .csv on this machine", key="dataset_path",
                             placeholder="/data/my-images")
        limit = limit_input("dataset_path_limit", "A stratified, seeded sample of this many images.")
        if st.form_submit_button("Use this path", type="primary", key="dataset_path_use"):
            if not path.strip():
                st.warning("Type a path first.")
            else:
                use(path.strip(), lambda: shared.DatasetSpec(path.strip(), limit, path.strip()))

dataset = shared.current_dataset()
st.subheader(f"In use: {dataset.name}")
st.caption(f"{dataset.description} · {dataset.size} images · id `{dataset.dataset_id}` · fingerprint "
           f"`{dataset.fingerprint[:12]}`")
if dataset.skipped:
    with st.expander(f"{len(dataset.skipped)} files were skipped"):
        st.dataframe([{"file": item.path, "why": item.reason} for item in dataset.skipped], hide_index=True,
                     key="dataset_skipped_table")

for note in dataset.notes:
    st.info(note)
if dataset.labels is None:
    st.info(f"Regression targets ({dataset.targets.shape[1] if dataset.targets.ndim == 2 else 1} per image): "
            "class-based metrics, projections and rank intervals are not available; LogME and DISCO still rank.")
else:
    counts = class_counts(dataset.labels)
    for warning in dataset_warnings(dataset.labels):
        st.warning(warning)
    left, right = st.columns([1, 2])
    with left:
        st.markdown("**Images per class**")
        st.dataframe([{"class": name, "images": count} for name, count in counts.items()], hide_index=True,
                     key="dataset_counts_table")
    with right:
        st.bar_chart({"images": counts}, horizontal=True, height=max(160, 28 * len(counts)))
    st.markdown("**A few images of each class**")
    labels = dataset.labels.astype(str)
    for name in list(counts)[:MAX_PREVIEW_CLASSES]:
        indices = [int(i) for i in (labels == name).nonzero()[0][:PREVIEW_PER_CLASS]]
        st.caption(f"{name} ({counts[name]} images)")
        st.image([dataset.load(i).convert("RGB") for i in indices], width=96,
                 caption=[dataset.item_names[i].split("/")[-1][:18] if dataset.item_names else "" for i in indices])
    if len(counts) > MAX_PREVIEW_CLASSES:
        st.caption(f"…and {len(counts) - MAX_PREVIEW_CLASSES} more classes.")

st.page_link(shared.PAGE_MODELS, label="Next: choose the models", icon=":material/arrow_forward:")
