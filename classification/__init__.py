"""ImageNet-style classification: the classifier in each incubation role, data, metric, hooks, pipeline."""
from .data import ImageFolderDataset, RepeatAugSampler, balanced_subset, scan_image_folder
from .fashion import FashionMNISTDataset
from .hooks import EffectiveBatchHook, ExportHook
from .metric import TopKAccuracy
from .model import IncubationClassifier, MixupDataPreprocessor

__all__ = ['EffectiveBatchHook', 'ExportHook', 'FashionMNISTDataset', 'ImageFolderDataset', 'IncubationClassifier',
           'MixupDataPreprocessor', 'RepeatAugSampler', 'TopKAccuracy', 'balanced_subset', 'scan_image_folder']
