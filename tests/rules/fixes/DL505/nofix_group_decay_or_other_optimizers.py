import torch

# weight_decay only per parameter group: AdamW's default (1e-2) would then apply to the
# groups that set none, where Adam applied 0.
groups = torch.optim.Adam([{"params": model.body.parameters(), "weight_decay": 1e-4}, {"params": model.head.parameters()}])
# decoupled_weight_decay is passed: the author chose the variant explicitly.
explicit = torch.optim.Adam(model.parameters(), weight_decay=1e-4, decoupled_weight_decay=False)
# NAdam and RAdam have no W variant to switch to.
nadam = torch.optim.NAdam(model.parameters(), weight_decay=1e-4)
