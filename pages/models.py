"""Models page: the offline zoo as cards, other sources by id, and checkpoint uploads."""

import streamlit as st

import app_support as shared
from transfer_core.models import list_models
from transfer_core.models.ids import RANDOM_SUFFIX, ZOO_PREFIX, is_baseline
from transfer_core.models.zoo import ZOO
from transfer_core.uploads import CHECKPOINT_SUFFIXES, ONNX_SUFFIX, UploadError, checkpoint_model_id, save_upload

CARDS_PER_ROW = 3

st.title("Models")
st.write("The candidate backbones. The offline zoo ships real pretrained checkpoints inside Python packages, each "
         "with a random-init twin (same architecture, no pre-training) as an honest baseline: a pretrained model "
         "that cannot beat its twin brings little to your data.")

descriptions = dict(list_models())
zoo = shared.zoo_ids()
if shared.ZOO_SELECTION not in st.session_state:
    st.session_state[shared.ZOO_SELECTION] = shared.selected_zoo_ids()
chosen = st.multiselect("Zoo models to rank", zoo, format_func=shared.short_name, key=shared.ZOO_SELECTION,
                        persist_state="session", placeholder="Pick models from the offline zoo")


def select(models: list[str]) -> None:
    st.session_state[shared.ZOO_SELECTION] = models


left, middle, _ = st.columns([1, 1, 3])
left.button("Select the whole zoo", key="models_select_all", on_click=select, args=(zoo,))
middle.button("Pretrained only", key="models_select_pretrained", on_click=select,
              args=([model for model in zoo if not is_baseline(model)],))


def card(model_id: str) -> None:
    """What a pretrained zoo model is, what it was pretrained on, its licence, where its weights come from, and
    whether it and its random-init twin are selected."""
    name = shared.short_name(model_id)
    facts = ZOO[name].facts
    twin = model_id + RANDOM_SUFFIX
    with st.container(border=True):
        st.markdown(f"**{name}**" + (" · :blue-badge[selected]" if model_id in chosen else ""))
        st.caption(descriptions.get(model_id, ""))
        st.markdown(f"Pretrained on: {facts.pretrained_on}  \nLicence: {facts.licence}  \nWeights: {facts.source}")
        st.caption(f"{facts.architecture}; {facts.notes}")
        st.caption(f"Random-init twin `{shared.short_name(twin)}`: "
                   + ("selected" if twin in chosen else "not selected"))


pretrained = [model_id for model_id in zoo if not is_baseline(model_id)]
with st.expander(f"The zoo: {len(pretrained)} pretrained models, each with a random-init twin", expanded=True):
    for start in range(0, len(pretrained), CARDS_PER_ROW):
        for column, model_id in zip(st.columns(CARDS_PER_ROW), pretrained[start:start + CARDS_PER_ROW]):
            with column:
                card(model_id)

st.subheader("Other models")
other_forms = "\n".join(f"* `{form}` — {text}" for form, text in list_models() if not form.startswith(ZOO_PREFIX))
st.markdown(f"One id per line. Without internet, hub weights load only from the local cache.\n\n{other_forms}")
if shared.OTHER_MODELS not in st.session_state:
    st.session_state[shared.OTHER_MODELS] = "\n".join(
        model_id for model_id in shared.other_model_ids() if model_id not in st.session_state.get(
            shared.UPLOADED_MODELS, []))
st.text_area("Model ids", key=shared.OTHER_MODELS, persist_state="session", height=100,
             placeholder="timm:resnet18\ntorchvision:mobilenet_v3_small")

st.subheader("Upload a checkpoint")
with st.form("models_upload_form"):
    upload = st.file_uploader("Weights for a timm architecture (.safetensors, or a weights-only .pth / .pt / .bin) "
                              "or an ONNX image model",
                              type=[suffix.lstrip(".") for suffix in (*CHECKPOINT_SUFFIXES, ONNX_SUFFIX)],
                              key="models_upload")
    architecture = st.text_input("timm architecture of the weights (not needed for ONNX)", key="models_upload_arch",
                                 placeholder="resnet50")
    if st.form_submit_button("Add this checkpoint", type="primary", key="models_upload_add"):
        try:
            if upload is None:
                raise UploadError("choose a file first")
            model_id = checkpoint_model_id(save_upload(upload.name, upload.getvalue()), architecture)
            loaded = shared.cached_model(model_id)
        except Exception as error:  # a user's file can fail in many ways: say why, keep the page alive
            st.error(f"The checkpoint could not be used: {error}")
        else:
            uploaded = st.session_state.setdefault(shared.UPLOADED_MODELS, [])
            if model_id not in uploaded:
                uploaded.append(model_id)
            st.success(f"Added {upload.name}: {loaded.card.architecture}, {loaded.card.parameters:,} parameters, "
                       f"{loaded.card.feature_dim}-d features.")

uploaded = st.session_state.get(shared.UPLOADED_MODELS, [])
if uploaded:
    st.markdown("**Uploaded checkpoints in the selection**")
    for model_id in list(uploaded):
        text, remove = st.columns([5, 1])
        text.code(model_id, language=None)
        if remove.button("Remove", key=f"models_remove_{model_id}"):
            uploaded.remove(model_id)
            st.rerun()

st.divider()
st.markdown(f"**{shared.count(len(shared.current_model_ids()), 'model')} selected.**")
st.page_link(shared.PAGE_RANK, label="Next: rank them", icon=":material/arrow_forward:")
